"""Leave out of a cluster submission the steps whose results are in nbflow's cache."""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts import is_object_store
from ..engine.cache import ResultCache, workflow_cache
from ..errors import NbflowError
from ..vocab import CACHED_TASKS_ANNOTATION, EXPECT
from .cached import Finder, Hit, cached_artifact, cached_parameters, task_deps, topological

if TYPE_CHECKING:
    from ..artifacts import ArtifactStore
    from ..config import NbflowConfig

__all__ = ["NothingToRun", "Pruned", "prune_manifest", "cluster_cache"]

#: Workflow annotation: JSON ``{task: cache key}`` (a mapped task: the list of its items' keys).
_ATOM = re.compile(r"^\s*([a-zA-Z0-9][-a-zA-Z0-9]*)(\.Succeeded)?\s*$")
log = logging.getLogger(__name__)


class NothingToRun(NbflowError):
    """Every step of the workflow is cached, so nothing was submitted.

    Attributes
    ----------
    cached : dict
        Task name to its cache key (a mapped task: its items' keys).
    """

    def __init__(self, workflow: str, cached: dict[str, Any]) -> None:
        super().__init__(
            f"nothing to run: all {len(cached)} steps of {workflow} are cached "
            "(--no-cache runs them again)"
        )
        self.workflow = workflow
        self.cached = cached


@dataclass
class Pruned:
    """A manifest without its cached tasks.

    Attributes
    ----------
    manifest : dict
        The rewritten Workflow (the input itself when nothing is cached).
    cached : dict
        Task name to cache key (a mapped task: the list of its items' keys).
    total : int
        Tasks of the main DAG before pruning.
    """

    manifest: dict[str, Any]
    cached: dict[str, Any] = field(default_factory=dict)
    total: int = 0

    @property
    def all_cached(self) -> bool:
        """Whether every task is cached (nothing left to run)."""
        return self.total > 0 and len(self.cached) == self.total


def cluster_cache(workflow: dict[str, Any], config: NbflowConfig, root: str) -> ResultCache | None:
    """The result cache cluster runs of ``workflow`` share with this machine, or ``None``.

    ``None`` when the artifact root ``root`` is not an object store that the cluster reads too
    (``s3://``). With caching off (``NbflowConfig.cache``, ``--no-cache``) its ``reuse`` is
    off: nothing is left out of a submission, and the run's results still replace the entries.
    """
    if not is_object_store(root):
        log.debug("no cache for cluster runs: artifact root %r is not shared", root or "(none)")
        return None
    cache = workflow_cache(workflow, Path(config.home) / "cache")
    cache.reuse = config.cache
    return cache


def prune_manifest(
    manifest: dict[str, Any], store: ArtifactStore, cache: ResultCache
) -> Pruned:
    """Remove from the main DAG the tasks whose results are cached and still stored.

    Dependents read the cached artifacts (``s3: {key}``) and parameter values instead, and
    the Workflow's ``nbflow.io/cached-tasks`` annotation lists what was left out. When in
    doubt a task runs: only tasks of nbflow's cacheable templates, whose inputs are known
    without running anything, whose dependencies are all cached, and whose every reference
    from what runs can be rewritten, are left out.

    Parameters
    ----------
    manifest : dict
        A Workflow with its parameters set, before large DAGs are nested.
    store : ArtifactStore
        The artifact repository of the cluster (where the cached artifacts must still be).
    cache : ResultCache
        The workflow's result cache.
    """
    spec = manifest.get("spec") or {}
    templates = {t["name"]: t for t in spec.get("templates") or []}
    main = templates.get(spec.get("entrypoint") or "")
    if main is None or "dag" not in main or main["dag"].get("target"):
        return Pruned(manifest)
    tasks = main["dag"].get("tasks") or []
    order = topological(tasks)
    if order is None:
        return Pruned(manifest, total=len(tasks))
    finder = Finder(spec, templates, store, cache)
    hits: dict[str, Hit] = {}
    for task in order:
        hit = finder.lookup(task, hits)
        if hit is not None:
            hits[task["name"]] = hit
    kept, hits = _settle(manifest, main, order, hits)
    if not hits:
        return Pruned(manifest, total=len(tasks))
    cached = {n: h.keys[0] if h.prefix is None else h.keys for n, h in hits.items()}
    if len(hits) == len(tasks):
        return Pruned(manifest, cached, len(tasks))
    out = _replace_tasks(manifest, main["name"], kept)
    annotations = out["metadata"].setdefault("annotations", {})
    annotations[CACHED_TASKS_ANNOTATION] = json.dumps(cached, sort_keys=True, separators=(",", ":"))
    return Pruned(out, cached, len(tasks))


def _settle(
    manifest: dict[str, Any], main: dict[str, Any], order: list[dict[str, Any]],
    hits: dict[str, Hit],
) -> tuple[list[dict[str, Any]], dict[str, Hit]]:
    """Rewrite the tasks that run; un-cache producers a reference to cannot be rewritten (and
    the cached tasks after them) until every reference is rewritten."""
    while True:
        values = cached_parameters(hits)
        rewritten = [_rewrite(t, hits, values) for t in order if t["name"] not in hits]
        kept = [t for t, _ in rewritten]
        text = json.dumps(_replace_tasks(manifest, main["name"], kept)["spec"])
        blocked = {n for n in hits if _referenced(text, n, hits[n])}
        blocked.update(n for _, names in rewritten for n in names)
        if not blocked:
            return kept, hits
        hits = _without(order, hits, blocked)


def _without(order: list[dict[str, Any]], hits: dict[str, Hit],
             blocked: set[str]) -> dict[str, Hit]:
    """``hits`` without ``blocked`` and the cached tasks after them (``order``: topological)."""
    gone = set(blocked)
    for t in order:
        if set(task_deps(t) or []) & gone:
            gone.add(t["name"])
    return {n: h for n, h in hits.items() if n not in gone}


def _referenced(text: str, name: str, hit: Hit) -> bool:
    """Whether the spec of what runs still refers to the cached task ``name`` (a tag, or a
    literal key of its outputs)."""
    word = re.escape(name) + r"(?![-a-zA-Z0-9])"
    if re.search(r"tasks\." + word + r"|tasks\[\\?['\"]" + word, text):
        return True
    return bool(hit.step_key) and hit.step_key in text


def _rewrite(
    task: dict[str, Any], hits: dict[str, Hit], values: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """A task that runs, reading cached results (``values``: :func:`cached_parameters`)
    instead of those of the cached tasks; and the cached tasks its ``depends`` cannot drop
    (they must run)."""
    out = copy.deepcopy(task)
    for p in (out.get("arguments") or {}).get("parameters") or []:
        if "value" in p:
            p["value"] = _substitute_cached(str(p["value"]), values)
    if "when" in out:
        out["when"] = _substitute_cached(str(out["when"]), values)
    moved = {}
    for art in (out.get("arguments") or {}).get("artifacts") or []:
        found = cached_artifact(art, hits)
        if found is not None:
            art.pop("from", None)
            art["s3"] = {"key": found[0]}
            moved[art["name"]] = found[0]
    _rekey_expectation(out, moved)
    return out, _rewrite_depends(out, hits)


def _rekey_expectation(task: dict[str, Any], moved: dict[str, str]) -> None:
    """Name the cached keys in the task's expectation (JSON text that may still hold tags of
    tasks that run), for the messages of its checks."""
    for p in (task.get("arguments") or {}).get("parameters") or []:
        if p["name"] != EXPECT or "value" not in p:
            continue
        for name, key in moved.items():
            head = re.escape(json.dumps(name)) + r':\{"task":"[^"]*","key":'
            quoted = json.dumps(key).replace("\\", "\\\\")
            p["value"] = re.sub(f'({head})"[^"]*"', rf"\g<1>{quoted}", str(p["value"]))


def _substitute_cached(text: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        return values.get(m.group(1), m.group(0))

    return re.sub(r"\{\{\s*(tasks\.[^}\s]+)\s*\}\}", one, text)


def _rewrite_depends(task: dict[str, Any], hits: dict[str, Hit]) -> list[str]:
    """Drop cached tasks from ``depends``/``dependencies``; return those that cannot be
    dropped (an expression that is not a plain conjunction of ``T`` or ``T.Succeeded``)."""
    if "dependencies" in task:
        task["dependencies"] = [d for d in task["dependencies"] if d not in hits]
        if not task["dependencies"]:
            del task["dependencies"]
        return []
    cached = [n for n in (task_deps(task) or []) if n in hits]
    if not cached:
        return []
    atoms = [_ATOM.match(a) for a in str(task["depends"]).split("&&")]
    if not all(atoms):
        return cached
    left = [a.group(0).strip() for a in atoms if a and a.group(1) not in hits]
    if left:
        task["depends"] = " && ".join(left)
    else:
        del task["depends"]
    return []


def _replace_tasks(manifest: dict[str, Any], main: str,
                   tasks: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.copy(manifest)
    out["metadata"] = copy.deepcopy(manifest.get("metadata") or {})
    spec = out["spec"] = dict(manifest["spec"])
    spec["templates"] = [
        {**t, "dag": {**t["dag"], "tasks": tasks}} if t["name"] == main else t
        for t in spec["templates"]
    ]
    return out
