"""Follow a Workflow on the cluster: keep a run's ``workflow`` dict current, notify listeners.

The watcher reads the object once, then watches it from that ``resourceVersion``; it resumes
from the last version it saw after the server ends a watch or the connection drops, and reads
the object again when the version is too old (410 Gone). Listeners get ``(workflow,
changed_nodes)`` after every change, exactly as the local engine calls them.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import NbflowError
from ..vocab import COMPLETED
from .errors import ClusterUnreachable, Expired, Operation, translate

if TYPE_CHECKING:
    from .client import ArgoClient

__all__ = ["WorkflowWatcher", "decode_nodes"]

Listener = Callable[[dict[str, Any], list[dict[str, Any]]], None]


def decode_nodes(status: dict[str, Any]) -> dict[str, Any] | None:
    """``status.nodes``, also when Argo stored them gzipped in ``compressedNodes``.

    ``None`` when the controller offloaded them to its database (only argo-server has them).
    """
    if status.get("compressedNodes"):
        raw = gzip.decompress(base64.b64decode(status["compressedNodes"]))
        return dict(json.loads(raw))
    if status.get("offloadNodeStatusVersion") and not status.get("nodes"):
        return None
    return dict(status.get("nodes") or {})


class WorkflowWatcher:
    """Keeps ``workflow`` in step with the Workflow of the same name on the cluster.

    :class:`~nbflow.cluster.run.ClusterDriver` follows a run with it (its ``listeners`` are
    the driver's; viewers subscribe to the driver).

    Parameters
    ----------
    client : ArgoClient
        Connection to the workflow's cluster and namespace.
    workflow : dict
        The run's Workflow object, updated in place (keys replaced) on every change.
    server_timeout_s : int
        How long the server keeps one watch open before the watcher starts the next.
    max_failures : int
        Consecutive broken connections tolerated before giving up (with ``error`` set).
    backoff_s : float
        First wait before reconnecting; doubles on each failure, at most 10 s.
    """

    def __init__(
        self,
        client: ArgoClient,
        workflow: dict[str, Any],
        *,
        server_timeout_s: int = 300,
        max_failures: int = 8,
        backoff_s: float = 0.2,
    ) -> None:
        self.client = client
        self.workflow = workflow
        self.name: str = workflow["metadata"]["name"]
        self.listeners: list[Listener] = []
        self.lock = threading.RLock()
        self.finished = threading.Event()
        self.error: NbflowError | None = None
        self.listener_errors: list[BaseException] = []
        self.deleted = False
        self.offloaded = False
        self.resource_version: str | None = workflow["metadata"].get("resourceVersion")
        self.reconnects = 0
        self.relists = 0
        self.server_timeout_s = server_timeout_s
        self.max_failures = max_failures
        self.backoff_s = backoff_s
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ engine-like surface

    @property
    def done(self) -> bool:
        """Whether the workflow ended (or was deleted)."""
        return self.deleted or (self.workflow.get("status") or {}).get("phase") in COMPLETED

    def start(self) -> WorkflowWatcher:
        """Watch in a background thread."""
        self._thread = threading.Thread(target=self.run, name=f"nbflow-watch-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, strategy: str = "Stop") -> None:
        """Stop the workflow on the cluster (``"Terminate"``: without exit handlers)."""
        if strategy == "Terminate":
            self.client.terminate(self.name)
        else:
            self.client.stop(self.name)

    def close(self) -> None:
        """Stop watching (takes effect at the next event or server timeout)."""
        self._closed.set()

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        """Watch until the workflow ends, is deleted, or :meth:`close` is called."""
        failures = 0
        try:
            if self.resource_version is None:
                self.refresh()
            while not self.done and not self._closed.is_set():
                try:
                    gone = self._follow()
                except ClusterUnreachable:
                    failures += 1
                    if failures > self.max_failures:
                        raise
                    self.reconnects += 1
                    self._closed.wait(min(10.0, self.backoff_s * 2 ** (failures - 1)))
                    continue
                failures = 0
                if gone:
                    self.refresh()
                elif not self.done:
                    self.reconnects += 1
        except NbflowError as exc:
            self.error = exc
        finally:
            self.finished.set()

    def refresh(self) -> None:
        """Read the object again (at the start, and after 410 Gone).

        A list, not a get: the list's resourceVersion is the current one, where a watch can
        start, while the object's own may already be compacted away.
        """
        self.relists += 1
        found = self.client.list_objects(field_selector=f"metadata.name={self.name}")
        items = [i for i in found.get("items") or [] if i["metadata"]["name"] == self.name]
        if not items:
            self.deleted = True
            self._notify([])
            return
        self.apply(items[0])
        self.resource_version = (found.get("metadata") or {}).get("resourceVersion") or (
            self.resource_version
        )

    def _follow(self) -> bool:
        """One watch request; ``True`` if its resourceVersion expired (410 Gone)."""
        events = self.client.watch(self.name, self.resource_version,
                                   timeout_s=self.server_timeout_s,
                                   read_timeout_s=self.server_timeout_s + 30.0)
        try:
            with contextlib.closing(events):  # leaving early closes the connection at once
                return self._consume(events)
        except Expired:  # refused with HTTP 410 rather than with a 410 event in the stream
            return True

    def _consume(self, events: Iterable[dict[str, Any]]) -> bool:
        for event in events:
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    return True
                op = Operation("watch", "workflows.argoproj.io", self.client.namespace, self.name)
                raise translate(int(obj.get("code") or 500), obj, op)
            if (obj.get("metadata") or {}).get("name") not in (self.name, None):
                continue
            if kind == "BOOKMARK":
                self.resource_version = obj["metadata"].get("resourceVersion")
            elif kind == "DELETED":
                self.deleted = True
                self._notify([])
            elif kind in ("ADDED", "MODIFIED"):
                self.apply(obj)
            if self.done or self._closed.is_set():
                break
        return False

    def apply(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """Take ``obj`` as the new state; notify listeners of the nodes that changed."""
        status = dict(obj.get("status") or {})
        nodes = decode_nodes(status)
        with self.lock:
            old = (self.workflow.get("status") or {}).get("nodes") or {}
            old_phase = (self.workflow.get("status") or {}).get("phase")
            if nodes is None:  # offloaded: keep what we had
                self.offloaded, nodes = True, dict(old)
            status.pop("compressedNodes", None)
            if nodes or "nodes" in status:
                status["nodes"] = nodes
            changed = [n for i, n in nodes.items() if old.get(i) != n]
            new = {**obj, "status": status} if status or "status" in obj else dict(obj)
            self.workflow.clear()
            self.workflow.update(new)
            self.resource_version = obj["metadata"].get("resourceVersion", self.resource_version)
        if changed or status.get("phase") != old_phase:
            self._notify(changed)
        return changed

    def _notify(self, changed: list[dict[str, Any]]) -> None:
        for listener in list(self.listeners):
            try:
                listener(self.workflow, changed)
            except Exception as exc:  # a viewer's bug must not end the watch
                self.listener_errors.append(exc)
