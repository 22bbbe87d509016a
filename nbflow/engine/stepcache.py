"""The local engine's step cache: each pod's cache and key, hits replayed, misses recorded."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DiskFull
from ..vocab import Phase
from .cache import ResultCache, cache_key, check_entry, entry_of, expired, replay
from .index import DigestIndex, task_of
from .nodes import Node
from .pod import PodRequest, PodResult
from .store import FULL

if TYPE_CHECKING:
    from ..artifacts import ArtifactStore

__all__ = ["StepCache"]


class StepCache:
    """Which earlier results a run's pods may reuse, and what they leave for later runs.

    Parameters
    ----------
    nodes : dict
        The run's nodes (the operator's, live): their recorded digests key the cache.
    store : ArtifactStore
        Where the artifacts of cached results are kept.
    cache : ResultCache, optional
        The engine's own content-addressed cache (``None``: none).
    cache_dir : Path, optional
        Where the caches of templates with an Argo ``memoize`` block live.
    """

    def __init__(
        self,
        nodes: dict[str, Node],
        store: ArtifactStore,
        cache: ResultCache | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.nodes = nodes
        self.store = store
        self.cache = cache
        self.cache_dir = cache_dir
        self.digests = DigestIndex(nodes)
        self._memo: dict[str, ResultCache] = {}
        self._pending: dict[str, tuple[ResultCache, str]] = {}  # node id -> its cache and key

    def lookup(
        self, req: PodRequest, template: dict[str, Any], now: datetime
    ) -> dict[str, Any] | None:
        """Note the pod's cache and key; return the entry it may reuse (``None``: it runs)."""
        found = self._cache_of(req, template)
        if found is None:
            return None
        self._pending[req.node_id] = found
        cache, key = found
        entry = cache.get(key) if cache.reuse else None
        max_age = (req.template.get("memoize") or {}).get("maxAge")
        return None if entry is None or expired(entry, max_age, now) else entry

    def _cache_of(
        self, req: PodRequest, template: dict[str, Any]
    ) -> tuple[ResultCache, str] | None:
        """Argo's ``memoize`` when the template has one, else the engine's own cache."""
        memo = req.template.get("memoize")
        if memo and self.cache_dir is not None:
            name = ((memo.get("cache") or {}).get("configMap") or {}).get("name", "memoize")
            if name not in self._memo:
                self._memo[name] = ResultCache(self.cache_dir / f"configmap-{name}.jsonl", name)
            memo_key = str(memo["key"])
            return (self._memo[name], memo_key) if memo_key else None
        key = cache_key(req, template, self.digests) if self.cache is not None else None
        return (self.cache, key) if self.cache is not None and key else None

    def start(
        self,
        pool: ThreadPoolExecutor,
        pod: Any,
        entry: dict[str, Any] | None,
        cancel: threading.Event,
    ) -> Future[PodResult]:
        """Run ``pod`` on ``pool``, or replay ``entry`` (from :meth:`lookup`) in its place."""
        if entry is None:
            return pool.submit(pod.run, cancel)
        cache, key = self._pending[pod.req.node_id]
        return pool.submit(self._hit_or_run, pod, entry, cache, key, cancel)

    def _hit_or_run(
        self, pod: Any, entry: dict[str, Any], cache: ResultCache, key: str,
        cancel: threading.Event,
    ) -> PodResult:
        """Replay a cache hit whose outputs are intact; else forget the entry and run the pod."""
        if check_entry(entry, self.store) is None:
            return replay(pod.req, entry, self.store, key, cache.name)
        cache.drop(key)
        return pod.run(cancel)

    def record(self, node_id: str, result: PodResult) -> None:
        """Remember a succeeded pod's digests and, on a cache miss, its result."""
        found = self._pending.pop(node_id, None)
        if result.phase != Phase.SUCCEEDED:
            return
        node = self.nodes[node_id]
        self.digests.add(result.outputs, task_of(node.get("name") or ""))
        if found is None or result.memoization:
            return
        cache, key = found
        try:
            cache.put(key, entry_of(result, node))
        except OSError as exc:
            if exc.errno in FULL:
                raise DiskFull(f"no space left on the device to write {cache.path}") from None
            raise
        node["memoizationStatus"] = {"hit": False, "key": key, "cacheName": cache.name}
