"""The local engine's loop: reconcile, start pods on worker threads, persist, notify listeners."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..artifacts import ArtifactStore
from ..errors import ManifestError, NbflowError
from ..model import Phase
from .nodes import timestamp
from .operator import Operator, PodResult
from .store import RunStore, new_run_name
from .worker import LocalPod, check_runnable

__all__ = ["LocalEngine", "prepare"]

Listener = Callable[[dict[str, Any], list[dict[str, Any]]], None]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def prepare(manifest: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """Copy ``manifest`` into a runnable Workflow: name it, apply ``parameters``, check templates.

    Raises :class:`ManifestError` before anything runs when a template cannot run locally or a
    parameter is unknown.
    """
    if manifest.get("kind") != "Workflow":
        raise ManifestError(f"can only run a Workflow, not a {manifest.get('kind')!r}")
    wf = copy.deepcopy(manifest)
    wf.pop("status", None)
    meta = wf.setdefault("metadata", {})
    if not meta.get("name"):
        meta["name"] = new_run_name(meta.get("generateName") or "workflow-")
    spec = wf.get("spec") or {}
    names = {t.get("name") for t in spec.get("templates") or []}
    if spec.get("entrypoint") not in names:
        raise ManifestError(
            f"entrypoint {spec.get('entrypoint')!r} is not a template of the workflow"
        )
    for tmpl in spec["templates"]:
        why = check_runnable(tmpl)
        if why:
            raise ManifestError(why)
    declared = {p["name"]: p for p in (spec.get("arguments") or {}).get("parameters") or []}
    for name, value in (parameters or {}).items():
        if name not in declared:
            raise ManifestError(
                f"-p {name}: the workflow has no parameter {name!r} "
                f"(declared: {', '.join(sorted(declared)) or 'none'})"
            )
        declared[name]["value"] = value
    return wf


class LocalEngine:
    """Runs one prepared Workflow to its end on a pool of worker threads.

    Parameters
    ----------
    workflow : dict
        A Workflow from :func:`prepare`.
    runs : RunStore
        Where the run's state and logs are kept.
    store : ArtifactStore
        Where artifacts are kept.
    workdir : Path
        Working directory of the steps.
    max_workers : int
        Pods running at once (``spec.parallelism`` may lower it).
    """

    def __init__(
        self,
        workflow: dict[str, Any],
        *,
        runs: RunStore,
        store: ArtifactStore,
        workdir: Path,
        max_workers: int,
    ) -> None:
        self.wf = workflow
        self.name = workflow["metadata"]["name"]
        self.runs = runs
        self.store = store
        self.workdir = workdir
        self.op = Operator(workflow, max_running=max_workers)
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, max_workers), thread_name_prefix="nbflow-pod"
        )
        self.cancel = threading.Event()
        self.listeners: list[Listener] = []
        self.lock = threading.RLock()
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run in a background thread."""
        self._thread = threading.Thread(target=self.run, name=f"nbflow-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Kill running steps; the run ends Failed."""
        self.cancel.set()

    def run(self) -> None:
        """Run to the end in this thread."""
        futures: dict[Future[PodResult], str] = {}
        try:
            while True:
                with self.lock:
                    for req in self.op.reconcile(_now()):
                        pod = LocalPod(
                            req,
                            self.store,
                            self.runs.run_dir(self.name) / "pods" / req.node_id,
                            self.runs.log_path(self.name, req.node_id),
                            self.workdir,
                        )
                        futures[self.pool.submit(pod.run, self.cancel)] = req.node_id
                    self._flush()
                    if self.op.done and not futures:
                        break
                    if not futures and self.op.wakeup is None:
                        raise NbflowError(
                            "the workflow cannot make progress (nothing runs, nothing waits)"
                        )
                timeout = None
                if self.op.wakeup is not None:
                    timeout = max(0.0, (self.op.wakeup - _now()).total_seconds())
                done, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
                with self.lock:
                    for fut in done:
                        self.op.pod_finished(futures.pop(fut), _result(fut), _now())
        except NbflowError as exc:
            self.cancel.set()
            with self.lock:
                self.op.status.update(phase="Error", message=str(exc), finishedAt=timestamp(_now()))
                self.op.changed.append(self.name)
                self._flush()
        finally:
            self.pool.shutdown(wait=True)
            self.finished.set()

    def _flush(self) -> None:
        if not self.op.changed:
            return
        ids = list(dict.fromkeys(self.op.changed))
        self.op.changed.clear()
        self.runs.save(self.wf)
        changed = [self.op.nodes[i] for i in ids if i in self.op.nodes]
        for listener in list(self.listeners):
            listener(self.wf, changed)


def _result(fut: Future[PodResult]) -> PodResult:
    try:
        return fut.result()
    except Exception as exc:  # a bug or an I/O failure in the worker: the pod errored
        return PodResult(Phase.ERROR, f"{type(exc).__name__}: {exc}")
