"""Which runs to delete, and what of their artifacts must stay: ``nbflow gc`` and ``nbflow delete``.

A retention policy keeps the ``keep_last`` most recent runs of each workflow and the runs
younger than ``keep_days`` (a run either rule keeps is kept), and always the runs an engine is
working on. Deleting a run removes its record and its artifacts, except the artifacts that a
kept run reads (a cluster run whose cached steps were left out reads an earlier run's keys) or
that a cache entry points at: those stay until nothing needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..vocab import COMPLETED, LABEL_WORKFLOW
from .nodes import parse_timestamp
from .store import RunStore

__all__ = [
    "RunInfo",
    "Plan",
    "Removal",
    "read_runs",
    "plan_retention",
    "cache_keys",
    "protects",
    "remove_run",
]


@dataclass
class RunInfo:
    """What retention needs to know of one run."""

    name: str
    workflow: str
    started: datetime
    live: bool
    root: str
    keys: set[str] = field(default_factory=set)  # artifacts it wrote
    reads: set[str] = field(default_factory=set)  # artifacts it read
    problem: str | None = None  # its record could not be read

    @property
    def prefix(self) -> str | None:
        """``<workflow>/<run>/``, where nbflow lays out all the run's artifacts (if it does)."""
        firsts = {"/".join(k.split("/")[:2]) + "/" for k in self.keys}
        if len(firsts) == 1 and next(iter(firsts)).split("/")[1] == self.name:
            return firsts.pop()
        return None


@dataclass
class Plan:
    """Runs to remove and to keep, and the artifact keys that must stay whatever happens."""

    remove: list[RunInfo]
    keep: list[RunInfo]
    protected: set[str]
    reasons: dict[str, str] = field(default_factory=dict)  # kept run -> why


def read_runs(runs: RunStore, default_root: str) -> list[RunInfo]:
    """Every run of the store, oldest first; a run whose record is unreadable has a
    ``problem`` and no keys (it is never deleted by a policy)."""
    out = []
    for name in runs.names():
        folder = runs.run_dir(name)
        started = datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc)
        live = runs.is_locked(name)
        try:
            wf, settings = runs.load(name)
        except Exception as exc:  # a corrupt record: listed, never removed by a policy
            out.append(RunInfo(name, "?", started, live, default_root, problem=str(exc)))
            continue
        status = wf.get("status") or {}
        if status.get("startedAt"):
            started = parse_timestamp(status["startedAt"])
        # a cluster run that has not ended is live on the cluster
        live = live or (settings.get("backend") == "argo" and status.get("phase") not in COMPLETED)
        info = RunInfo(name, _workflow_of(wf), started, live,
                       settings.get("artifact_root") or default_root)
        for node in (status.get("nodes") or {}).values():
            info.keys |= _keys((node.get("outputs") or {}).get("artifacts"))
            info.reads |= _keys((node.get("inputs") or {}).get("artifacts"))
        out.append(info)
    return out


def _workflow_of(wf: dict[str, Any]) -> str:
    meta = wf.get("metadata") or {}
    label = (meta.get("labels") or {}).get(LABEL_WORKFLOW)
    return str(label or (meta.get("generateName") or "").rstrip("-") or meta.get("name") or "?")


def _keys(artifacts: list[dict[str, Any]] | None) -> set[str]:
    return {a["s3"]["key"] for a in artifacts or [] if (a.get("s3") or {}).get("key")}


def cache_keys(cache_dir: Path) -> set[str]:
    """The artifact keys every cache entry under ``cache_dir`` points at."""
    from .cache import ResultCache

    keys: set[str] = set()
    for path in sorted(Path(cache_dir).glob("*.jsonl")) if Path(cache_dir).is_dir() else []:
        for entry in ResultCache(path, path.stem).entries.values():
            keys |= _keys(((entry or {}).get("outputs") or {}).get("artifacts"))
    return keys


def plan_retention(
    runs: list[RunInfo],
    *,
    keep_last: int,
    keep_days: float,
    now: datetime,
    cached: set[str],
) -> Plan:
    """Split ``runs`` by the policy; see the module docstring."""
    keep: dict[str, str] = {}
    by_workflow: dict[str, list[RunInfo]] = {}
    for run in runs:
        by_workflow.setdefault(run.workflow, []).append(run)
        if run.live:
            keep[run.name] = "it is running"
        elif run.problem:
            keep[run.name] = f"its record cannot be read ({run.problem})"
        elif keep_days > 0 and now - run.started < timedelta(days=keep_days):
            keep[run.name] = f"younger than {keep_days:g} days"
    if keep_last > 0:
        for name, group in by_workflow.items():
            for run in sorted(group, key=lambda r: r.started)[-keep_last:]:
                keep.setdefault(run.name, f"one of the last {keep_last} runs of {name}")
    kept = [r for r in runs if r.name in keep]
    protected = set(cached).union(*(r.reads for r in kept)) if kept else set(cached)
    removed = [r for r in runs if r.name not in keep]
    return Plan(removed, kept, protected, keep)


def protects(protected: set[str], key: str) -> bool:
    """Whether deleting ``key`` (a file, or a folder ending in ``/``) would take away a
    protected key, or part of one."""
    return any(
        p == key
        or (p.endswith("/") and key.startswith(p))
        or (key.endswith("/") and p.startswith(key))
        for p in protected
    )


@dataclass
class Removal:
    """What deleting one run took away (or, in a dry run, would take away)."""

    run: str
    bytes: int = 0
    artifacts: int = 0
    kept: list[str] = field(default_factory=list)  # its keys that other runs or the cache need


def remove_run(
    runs: RunStore, info: RunInfo, store: Any, protected: set[str], dry_run: bool = False
) -> Removal:
    """Delete the run ``info`` (record and artifacts in ``store``), except ``protected`` keys.

    The whole ``<workflow>/<run>/`` prefix goes when nothing in it is protected (leftovers of
    attempts included); otherwise each of its recorded artifacts that is not protected.
    """
    out = Removal(info.name)
    prefix = info.prefix
    if prefix is not None and not protects(protected, prefix):
        doomed = [prefix]  # nothing under it is protected: every key of the run goes
    else:
        out.kept = sorted(k for k in info.keys if protects(protected, k))
        doomed = sorted(info.keys.difference(out.kept))
    for key in doomed:
        out.bytes += store.size(key)
        out.artifacts += 1
        if not dry_run:
            store.delete(key)
    folder = runs.run_dir(info.name)
    out.bytes += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    if not dry_run:
        runs.delete(info.name)
    return out
