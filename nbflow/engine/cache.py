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
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..artifacts import ArtifactStore
from ..errors import NbflowError
from ..model.values import parse_duration
from ..vocab import (
    CACHE_ANNOTATION,
    CODE_ANNOTATION,
    DIGESTS,
    EXECUTED_NOTEBOOK,
    LABEL_WORKFLOW,
    STEP_KEY,
    NodeType,
    Phase,
)
from .nodes import Node, parse_timestamp
from .pod import PodRequest, PodResult

__all__ = [
    "expired",
    "ResultCache",
    "DigestIndex",
    "cache_key",
    "key_of",
    "workflow_cache",
    "digest_path",
    "replay",
    "entry_of",
    "make_entry",
    "record_nodes",
]



def digest_path(path: Path) -> str:
    """sha256 of a file, or of a folder's relative paths and file contents in sorted order."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        h.update(str(file.relative_to(path) if file != path else "").encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class DigestIndex:
    """Artifact key → content digest, fed from the nodes' ``nbflow-digests`` outputs."""

    def __init__(self, nodes: dict[str, Node] | None = None) -> None:
        self.by_key: dict[str, str] = {}
        for node in (nodes or {}).values():
            self.add(node.get("outputs") or {})

    def add(self, outputs: dict[str, Any]) -> None:
        """Record the digests of one node's outputs."""
        params = {p["name"]: p.get("value") for p in outputs.get("parameters") or []}
        digests = json.loads(params.get(DIGESTS) or "{}")
        for art in outputs.get("artifacts") or []:
            if art["name"] in digests and "s3" in art:
                self.by_key[art["s3"]["key"]] = digests[art["name"]]

    def digest(self, key: str) -> str | None:
        """The digest of ``key``; a folder prefix digests everything stored under it."""
        if key in self.by_key:
            return self.by_key[key]
        if not key.endswith("/"):
            return None
        # keys relative to the prefix: the run's name in it must not change the digest
        inside = sorted((k[len(key):], d) for k, d in self.by_key.items() if k.startswith(key))
        return hashlib.sha256(json.dumps(inside).encode()).hexdigest() if inside else None


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
        (p["name"], p["value"]) for p in inputs.get("parameters") or [] if p["name"] != STEP_KEY
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
    """

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
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

    def put_all(self, entries: dict[str, dict[str, Any]]) -> None:
        """Store several entries with one append."""
        if not entries:
            return
        self.entries.update(entries)
        text = "".join(_line(key, entry) for key, entry in entries.items())
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


def _line(key: str, entry: dict[str, Any]) -> str:
    return json.dumps({"key": key, "entry": entry}, separators=(",", ":")) + "\n"


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


def record_nodes(workflow: dict[str, Any], cache: ResultCache, store: ArtifactStore) -> int:
    """Add the succeeded pods of a Workflow's ``status.nodes`` (a cluster run's) to ``cache``.

    A node's key comes from its resolved ``inputs``, as :meth:`LocalEngine._record` computes
    it from the pod request. Digests come from the nodes' ``nbflow-digests`` outputs; an
    artifact without one (Argo does not report it) is read from ``store`` and digested, and
    the entry gets the ``nbflow-digests`` parameter, so that its dependents' keys can be
    computed later. Returns how many entries were added.
    """
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    templates = {t["name"]: t for t in (workflow.get("spec") or {}).get("templates") or []}
    digests = _StoredDigests(nodes, store)
    added: dict[str, dict[str, Any]] = {}
    for node in nodes.values():
        if node.get("type") != NodeType.POD or node.get("phase") != Phase.SUCCEEDED.value:
            continue
        tmpl = templates.get(node.get("templateName") or "")
        if tmpl is None or tmpl.get("memoize") or (node.get("memoizationStatus") or {}).get("hit"):
            continue
        key = key_of(node.get("inputs") or {}, tmpl, digests.digest)
        if key is None or key in added or cache.get(key) is not None:
            continue
        outputs = digests.with_digests(node.get("outputs") or {})
        if outputs is not None:
            added[key] = make_entry(outputs, node)
    if added:
        cache.put_all(added)
    return len(added)


class _StoredDigests:
    """Digests of a run's output artifacts: reported ones, else read back from the store."""

    def __init__(self, nodes: dict[str, Node], store: ArtifactStore) -> None:
        self.index = DigestIndex(nodes)
        self.store = store
        self.produced = {
            art["s3"]["key"]
            for node in nodes.values()
            if node.get("type") == NodeType.POD and node.get("phase") == Phase.SUCCEEDED.value
            for art in (node.get("outputs") or {}).get("artifacts") or []
            if art.get("name") != EXECUTED_NOTEBOOK and (art.get("s3") or {}).get("key")
        }

    def digest(self, key: str) -> str | None:
        """The digest of ``key`` (a folder prefix: of every output stored under it)."""
        under = [k for k in self.produced if k == key or (key.endswith("/") and k.startswith(key))]
        for k in under:
            if k not in self.index.by_key:
                self._compute(k)
        return self.index.digest(key)

    def _compute(self, key: str) -> None:
        with tempfile.TemporaryDirectory(prefix="nbflow-digest-") as tmp:
            local = Path(tmp) / "artifact"
            try:
                self.store.download(key, local)
            except (NbflowError, OSError):
                return  # unknown content: whatever reads it is not cached
            self.index.by_key[key] = digest_path(local)

    def with_digests(self, outputs: dict[str, Any]) -> dict[str, Any] | None:
        """``outputs`` with its ``nbflow-digests`` parameter (``None`` if one cannot be read)."""
        params = outputs.get("parameters") or []
        if any(p["name"] == DIGESTS for p in params):
            return outputs
        found = {}
        for art in outputs.get("artifacts") or []:
            key = (art.get("s3") or {}).get("key")
            if art.get("name") == EXECUTED_NOTEBOOK or not key:
                continue
            found[art["name"]] = self.digest(key)
            if found[art["name"]] is None:
                return None
        value = json.dumps(found, sort_keys=True)
        return {**outputs, "parameters": [*params, {"name": DIGESTS, "value": value}]}
