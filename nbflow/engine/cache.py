"""Content-addressed result cache of the local engine, shaped like Argo's memoization.

A step's key hashes its code and image (the template's ``nbflow.io/code-sha256`` annotation), its
resolved parameters and the content digests of its input artifacts. A hit reuses the earlier
outputs: they are copied under this run's keys, so every run's artifact layout stays complete,
and the node records ``memoizationStatus: {hit: true, key, cacheName}`` as Argo's would.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..artifacts import ArtifactStore
from ..errors import IntegrityError
from ..model.values import parse_duration
from ..vocab import (
    CACHE_ANNOTATION,
    CODE_ANNOTATION,
    EXECUTED_NOTEBOOK,
    EXPECT,
    LABEL_WORKFLOW,
    STEP_KEY,
    NodeType,
    Phase,
)
from .index import DigestIndex, recorded_digests
from .nodes import Node, parse_timestamp
from .pod import PodRequest, PodResult

__all__ = [
    "check_entry",
    "expired",
    "ResultCache",
    "cache_key",
    "key_of",
    "workflow_cache",
    "replay",
    "entry_of",
    "make_entry",
    "record_nodes",
]

def cache_key(request: PodRequest, template: dict[str, Any], index: DigestIndex) -> str | None:
    """The cache key of a pod, or ``None`` when it must not be cached."""
    return key_of(request.inputs, template, index.digest)


def key_of(
    inputs: dict[str, Any], template: dict[str, Any], digest: Callable[[str], str | None]
) -> str | None:
    """The cache key of a step from its resolved ``inputs`` (a pod request's or a node's).

    Parameters
    ----------
    inputs : dict
        ``{"parameters": [{name, value}], "artifacts": [{name, s3: {key}} or {name, raw}]}``.
    template : dict
        The step's template, whose ``nbflow.io/code-sha256`` annotation is hashed.
    digest : callable
        Artifact key to content digest, ``None`` when unknown.

    Returns
    -------
    str or None
        ``None`` when the step must not be cached (no code hash, opted out, or an input whose
        content is unknown).
    """
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    code = annotations.get(CODE_ANNOTATION)
    if not code or annotations.get(CACHE_ANNOTATION) == "false":
        return None
    params = sorted(
        (p["name"], p["value"])
        for p in inputs.get("parameters") or []
        if p["name"] not in (STEP_KEY, EXPECT)  # where outputs go; input digests (below)
    )
    digests = []
    for art in inputs.get("artifacts") or []:
        if "raw" in art:
            continue
        key = (art.get("s3") or {}).get("key")
        found = digest(key) if key else None
        if found is None:
            return None  # content unknown: never reuse blindly
        digests.append((art["name"], found))
    return hashlib.sha256(json.dumps([code, params, sorted(digests)]).encode()).hexdigest()


def expired(entry: dict[str, Any], max_age: str | None, now: datetime) -> bool:
    """Whether a memoization entry is older than ``maxAge`` (a Go duration; none: never)."""
    if not max_age or not entry.get("creationTimestamp"):
        return False
    created = parse_timestamp(entry["creationTimestamp"])
    return now - created > timedelta(seconds=parse_duration(max_age))


COMPACT_SLACK = 100  # stale lines a journal may carry before it is rewritten


class ResultCache:
    """One workflow's entries, key → ``{outputs, nodeID, creationTimestamp}``, in a journal file.

    The file holds one JSON object ``{"key": ..., "entry": ...}`` per line; a later line for a
    key replaces an earlier one. A new entry is one appended line, so storing costs the same
    however many entries the cache holds, and engines of two runs sharing the cache do not
    overwrite each other's entries. A line cut short by a crash is skipped. The file is
    rewritten without superseded lines when it is opened and more than half of it is stale.
    A cache of an earlier nbflow (``NAME.json``, one JSON object) is read once and carried over.

    Parameters
    ----------
    path : Path
        The journal (``NAME.jsonl``).
    name : str
        The cache's name (``memoizationStatus.cacheName``).

    Attributes
    ----------
    reuse : bool
        Whether an engine may reuse its entries (``False`` with ``--no-cache``: every step runs,
        and its result replaces the entry, which repairs one whose artifacts went bad).
    """

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self.reuse = True
        self.entries: dict[str, Any] = {}
        lines = self._read()
        if lines is None:
            self._adopt_legacy()
        elif lines > 2 * len(self.entries) + COMPACT_SLACK:
            self._rewrite()

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored for ``key``."""
        return self.entries.get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store an entry (one line appended to the journal)."""
        self.put_all({key: entry})

    def drop(self, key: str) -> None:
        """Forget the entry of ``key`` (one line appended: ``{"key": key, "entry": null}``)."""
        self.entries.pop(key, None)
        self._append(_line(key, None))

    def put_all(self, entries: dict[str, dict[str, Any]]) -> None:
        """Store several entries with one append."""
        if not entries:
            return
        self.entries.update(entries)
        self._append("".join(_line(key, entry) for key, entry in entries.items()))

    def _append(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                text = "\n" + text  # a crash cut the last line short: start a line of our own
            data = text.encode("utf-8")
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)

    def _read(self) -> int | None:
        """Load the journal; return its line count (``None``: there is none)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return 0
        lines = text.splitlines()
        for line in lines:
            try:
                record = json.loads(line)
                if record["entry"] is None:
                    self.entries.pop(record["key"], None)
                else:
                    self.entries[record["key"]] = record["entry"]
            except (ValueError, KeyError, TypeError):
                continue  # cut short by a crash, or not ours
        return len(lines)

    def _adopt_legacy(self) -> None:
        legacy = self.path.with_suffix(".json")
        try:
            old = json.loads(legacy.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(old, dict) and old:
            self.put_all(old)

    def _rewrite(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(_line(k, e) for k, e in self.entries.items()), encoding="utf-8")
        os.replace(tmp, self.path)


def _line(key: str, entry: dict[str, Any] | None) -> str:
    return json.dumps({"key": key, "entry": entry}, separators=(",", ":")) + "\n"


def check_entry(entry: dict[str, Any], store: ArtifactStore) -> str | None:
    """Why a cache entry cannot be reused (``None``: it can).

    Every output it points at must still be stored, and hold what the step that made it
    recorded (its ``nbflow-digests``); an output without a recorded digest is never reused.
    The executed notebook, which no step reads, only has to exist.
    """
    from ..artifacts.verify import verify_stored

    outputs = entry.get("outputs") or {}
    digests = recorded_digests(outputs)
    try:
        for art in outputs.get("artifacts") or []:
            key = (art.get("s3") or {}).get("key")
            what = f"cached output {art.get('name')!r} ({key})"
            if not key:
                return f"{what} has no key"
            if art["name"] in digests:
                verify_stored(store, key, digests[art["name"]], what)
            elif art["name"] != EXECUTED_NOTEBOOK:
                return f"{what} has no recorded digest"
            elif not store.exists(key):
                return f"{what} is missing"
    except IntegrityError as exc:
        return str(exc)
    return None


def replay(
    request: PodRequest, entry: dict[str, Any], store: ArtifactStore, key: str, cache_name: str
) -> PodResult:
    """Reuse a cached result: copy its artifacts under this pod's keys and return its outputs."""
    cached = {a["name"]: a for a in (entry.get("outputs") or {}).get("artifacts") or []}
    artifacts = []
    for spec in (request.template.get("outputs") or {}).get("artifacts") or []:
        old = cached.get(spec["name"])
        new_key = (spec.get("s3") or {}).get("key")
        if old is None:
            continue
        if not new_key:  # no key of its own (a hand-written template): reuse the stored one
            artifacts.append(old)
            continue
        new_key = (
            new_key
            if not old["s3"]["key"].endswith("/") or new_key.endswith("/")
            else new_key + "/"
        )
        if old["s3"]["key"] != new_key:
            store.copy(old["s3"]["key"], new_key)
        artifacts.append({"name": spec["name"], "path": spec["path"], "s3": {"key": new_key}})
    outputs: dict[str, Any] = dict(entry.get("outputs") or {})
    outputs["artifacts"] = artifacts
    return PodResult(
        Phase.SUCCEEDED,
        None,
        outputs,
        memoization={"hit": True, "key": key, "cacheName": cache_name},
    )


def entry_of(result: PodResult, node: Node) -> dict[str, Any]:
    """The cache entry of a succeeded pod: its outputs, executed notebook included."""
    return make_entry(result.outputs, node)


def make_entry(outputs: dict[str, Any], node: Node) -> dict[str, Any]:
    """The cache entry of a succeeded pod node with these ``outputs``."""
    return {
        "outputs": outputs,
        "nodeID": node["id"],
        "creationTimestamp": node.get("finishedAt"),
    }


def workflow_cache(workflow: dict[str, Any], cache_dir: Path) -> ResultCache:
    """The result cache of the workflow ``workflow`` belongs to, in ``cache_dir``.

    Named after the ``nbflow.io/workflow`` label, else the ``generateName`` (or the name), so
    every run of a pipeline, local or on a cluster, shares one cache.
    """
    meta = workflow["metadata"]
    label = (meta.get("labels") or {}).get(LABEL_WORKFLOW) or meta.get("generateName", "")
    name = label.rstrip("-") or meta["name"]
    return ResultCache(cache_dir / f"{name}.jsonl", name)


def record_nodes(workflow: dict[str, Any], cache: ResultCache) -> int:
    """Add the succeeded pods of a Workflow's ``status.nodes`` (a cluster run's) to ``cache``.

    A node's key comes from its resolved ``inputs``, as :meth:`LocalEngine._record` computes
    it from the pod request, with the digests the pods reported (``nbflow-digests``). A pod
    that reported none is not cached: its artifacts are never digested after the fact, as
    what is in the store then may not be what the pod wrote. An entry is replaced by a newer
    result for the same key (after ``--no-cache``, the one that repairs it). Returns how many
    entries were added.
    """
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    templates = {t["name"]: t for t in (workflow.get("spec") or {}).get("templates") or []}
    index = DigestIndex(nodes)
    added: dict[str, dict[str, Any]] = {}
    for node in nodes.values():
        if node.get("type") != NodeType.POD or node.get("phase") != Phase.SUCCEEDED.value:
            continue
        tmpl = templates.get(node.get("templateName") or "")
        if tmpl is None or tmpl.get("memoize") or (node.get("memoizationStatus") or {}).get("hit"):
            continue
        key = key_of(node.get("inputs") or {}, tmpl, index.digest)
        outputs = node.get("outputs") or {}
        if key is None or key in added or not _fully_digested(outputs):
            continue
        added[key] = make_entry(outputs, node)
    if added:
        cache.put_all(added)
    return len(added)


def _fully_digested(outputs: dict[str, Any]) -> bool:
    digests = recorded_digests(outputs)
    return all(
        a["name"] in digests
        for a in outputs.get("artifacts") or []
        if a.get("name") != EXECUTED_NOTEBOOK and (a.get("s3") or {}).get("key")
    )
