"""The local engine's loop: reconcile, start pods on worker threads, persist, notify listeners."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..argo.container import runs_nbflow
from ..argo.manifest import set_parameters
from ..artifacts import ArtifactStore
from ..errors import DiskFull, ManifestError, NbflowError, RunLocked
from ..vocab import Phase
from .cache import ResultCache, cache_key, check_entry, entry_of, expired, replay
from .index import DigestIndex, task_of
from .nodes import timestamp
from .operator import Operator
from .placement import Capacity
from .pod import PodRequest, PodResult
from .store import FULL, RunStore, new_run_name
from .sync import FileLocks, semaphore_size
from .trash import Trash
from .volumes import HostOptions
from .worker import CANCELLED, LocalPod

__all__ = ["LocalEngine", "prepare"]

CONTROL_POLL_S = 0.5  # how often a running engine looks for a stop request from another process
# The run record is rewritten whole; after a save that took t seconds the next waits SAVE_PACE * t,
# so saving costs at most ~1/SAVE_PACE of the run's time however many nodes it has (a small run
# still saves after every change, a 1,000-step fan-out a few times a second).
SAVE_PACE = 10

Listener = Callable[[dict[str, Any], list[dict[str, Any]]], None]


def _host_pod() -> type[LocalPod]:
    from .host import HostPod

    return HostPod


def _now() -> datetime:
    return datetime.now(timezone.utc)


def prepare(
    manifest: dict[str, Any],
    parameters: dict[str, str] | None = None,
    host_exec: bool = False,
    host: HostOptions | None = None,
) -> dict[str, Any]:
    """Copy ``manifest`` into a runnable Workflow: name it, make it self-contained (templates
    it refers to, defaults, ConfigMap values, see :mod:`nbflow.argo.hydrate`), apply
    ``parameters``, check its templates.

    Raises :class:`ManifestError` before anything runs when a name is not a Kubernetes name, a
    referenced object is missing, a template cannot run locally or a parameter is unknown.
    """
    from ..argo.hydrate import hydrate
    from .runnable import check_names, check_workflow

    if manifest.get("kind") != "Workflow":
        raise ManifestError(f"can only run a Workflow, not a {manifest.get('kind')!r}")
    check_names(manifest)
    wf = hydrate(manifest, host.objects if host is not None else None)
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
    check_workflow(wf, host_exec, host)
    set_parameters(spec, parameters or {})
    return wf


class LocalEngine:
    """Runs one prepared Workflow to its end on a pool of worker threads.

    Parameters
    ----------
    workflow : dict
        A Workflow from :func:`prepare` (or a reopened one, see :mod:`.recovery`).
    runs : RunStore
        Where the run's state and logs are kept.
    store : ArtifactStore
        Where artifacts are kept.
    workdir : Path
        Working directory of the steps.
    max_workers : int
        Cores the steps may use: notebook steps take one each unless they request less or
        more; pods that request no CPU are not counted (see :mod:`.placement`).
    max_pods : int, optional
        Pods running at once, whatever they request (default: ``max_workers``).
    cache : ResultCache, optional
        Earlier results to reuse instead of running a step again (``None``: no cache).
    cache_dir : Path, optional
        Where the caches of templates with an Argo ``memoize`` block live.
    engine : str
        ``"papermill"``: every step is a papermill run in a fresh kernel. ``"fast"``: steps run
        in a fresh IPython shell of a process forked from a pre-warmed server
        (:mod:`.fast`); a template it cannot run safely still goes through papermill.
    host : HostOptions, optional
        What hand-written templates may use on this machine (loaded objects, image commands).
    """

    def __init__(
        self,
        workflow: dict[str, Any],
        *,
        runs: RunStore,
        store: ArtifactStore,
        workdir: Path,
        max_workers: int,
        cache: ResultCache | None = None,
        cache_dir: Path | None = None,
        engine: str = "fast",
        host: HostOptions | None = None,
        max_pods: int | None = None,
    ) -> None:
        self.wf = workflow
        self.name = workflow["metadata"]["name"]
        self.runs = runs
        self.store = store
        self.workdir = workdir
        pods = max_pods or max_workers
        self.host = host if host is not None else HostOptions()
        home = self.host.home if self.host.home is not None else runs.root.parent
        self.locks = FileLocks(Path(home) / "locks")  # synchronization, across runs
        self.op = Operator(
            workflow,
            capacity=Capacity.of_machine(max_workers, pods),
            locks=self.locks,
            semaphore_size=semaphore_size(self.host.objects.config_maps),
        )
        self.pool = ThreadPoolExecutor(max_workers=max(1, pods), thread_name_prefix="nbflow-pod")
        self.cancels: dict[str, threading.Event] = {}
        self.cache = cache
        self.digests = DigestIndex(self.op.nodes)
        self.keys: dict[str, str] = {}
        self.key_caches: dict[str, ResultCache] = {}
        self.memo_caches: dict[str, ResultCache] = {}
        self.cache_dir = cache_dir
        if engine not in ("fast", "papermill"):
            raise NbflowError(f"unknown engine {engine!r}: use 'fast' or 'papermill'")
        self.engine = engine
        self.max_workers = max_workers
        self.server: Any = None
        self.trash: Trash | None = None  # deletes finished pods' folders while the run goes on
        self.fallbacks: dict[str, str] = {}  # template name -> why it runs through papermill
        self.listeners: list[Listener] = []
        self._unsaved = False  # node changes not yet in the run record
        self._next_save = 0.0  # time.monotonic() before which a save is deferred
        self._next_control = 0.0  # when to look for a request of another process next
        self.lock = threading.RLock()
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None
        self.run_lock: AbstractContextManager[Any] | None = None  # the run's, taken by a driver

    def start(self) -> None:
        """Run in a background thread."""
        self._thread = threading.Thread(target=self.run, name=f"nbflow-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, strategy: str = "Stop") -> None:
        """Shut the run down like ``argo stop`` (exit handlers run) or ``argo terminate``.

        Running steps are killed and marked Failed ``Stopped with strategy '<strategy>'``; the
        run ends Failed. A stopped run can be resumed.
        """
        with self.lock:
            self.op.spec["shutdown"] = strategy
            self._cancel_halted()

    def run(self) -> None:
        """Run to the end in this thread (holding the run's lock)."""
        self.trash = Trash(self.runs.run_dir(self.name) / "pods")
        try:
            with self.run_lock or self.runs.lock(self.name):
                if self.engine == "fast":
                    self._start_server()
                self._loop()
        except RunLocked:
            pass  # another engine runs it: its record is not ours to write
        except DiskFull as exc:
            self._halt(f"{exc}: the run stopped, and its record keeps what was saved last; "
                       f"make room, then: nbflow resume {self.name}")
        except NbflowError as exc:
            self._abort(str(exc))
        except Exception as exc:  # a bug must not leave the run hanging as Running
            import traceback

            log = self.runs.run_dir(self.name) / "engine-error.log"
            log.write_text(traceback.format_exc(), encoding="utf-8")
            self._abort(f"internal error ({type(exc).__name__}: {exc}); details in {log}")
        finally:
            self.pool.shutdown(wait=True)
            self.locks.close()
            if self.server is not None:
                self.server.close(wait=False)  # no step runs any more: nothing to wait for
            self.trash.close(wait=False)  # the helper finishes deleting on its own
            self.finished.set()

    def _start_server(self) -> None:
        """Start the fast engine's fork server, unless no template can use it."""
        from . import warm
        from .fast import fallback_reason

        pods = [t for t in self.wf["spec"]["templates"] if runs_nbflow(t)]
        for tmpl in pods:
            why = fallback_reason(tmpl)
            if why is not None:
                self.fallbacks[tmpl["name"]] = why
        if len(self.fallbacks) == len(pods):
            return
        kind = warm.ServerKind.of_workflow(self.wf, self.max_workers, self.workdir)
        # a long-lived process (the Jupyter server) may hold one started for us (see .warm)
        self.server = warm.take(kind) or kind.start()

    def _halt(self, message: str) -> None:
        """Stop at once without writing the record (it could not be written): the run is then
        as after a crash, and ``nbflow resume`` goes on from its last saved state."""
        with self.lock:
            for cancel in self.cancels.values():
                cancel.set()
            self.op.status.update(phase="Error", message=message)
            for listener in list(self.listeners):
                listener(self.wf, [])

    def _abort(self, message: str) -> None:
        with self.lock:
            for cancel in self.cancels.values():
                cancel.set()
            self.op.status.update(phase="Error", message=message, finishedAt=timestamp(_now()))
            self.op.settle(message)
            self.op.changed.append(self.name)
            self._flush(force=True)

    def _loop(self) -> None:
        futures: dict[Future[PodResult], str] = {}
        while True:
            with self.lock:
                for req in self.op.reconcile(_now()):
                    futures[self._submit(req)] = req.node_id
                for node_id in self.op.kills:  # daemons whose scope ended
                    if node_id in self.cancels:
                        self.cancels[node_id].set()
                self.op.kills.clear()
                if self.op.deadline_passed:
                    self._cancel_halted()
                if self.op.done and not futures:
                    self.op.settle("the workflow had ended when this node finished")
                self._flush(force=self.op.done and not futures)
                if self.op.done and not futures:
                    return
                if not futures and self.op.wakeup is None and not self.op.suspended():
                    raise NbflowError(
                        "the workflow cannot make progress (nothing runs, nothing waits)"
                    )
            timeout = CONTROL_POLL_S
            if self._unsaved:
                timeout = min(timeout, max(0.0, self._next_save - time.monotonic()))
            if self.op.wakeup is not None:
                timeout = min(timeout, max(0.0, (self.op.wakeup - _now()).total_seconds()))
            done, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
            if time.monotonic() >= self._next_control:
                self._next_control = time.monotonic() + CONTROL_POLL_S
                self._read_control()
            with self.lock:
                for fut in done:
                    node_id = futures.pop(fut)
                    self.cancels.pop(node_id, None)
                    result = self._result(fut)
                    self.op.pod_finished(node_id, result, _now())
                    self._record(node_id, result)

    def _lookup(self, req: PodRequest) -> tuple[ResultCache | None, str | None]:
        """The cache and key of a pod: Argo's ``memoize`` when the template has one, else the
        engine's own content-addressed cache."""
        template = self.op.templates[self.op.nodes[req.node_id]["templateName"]]
        memo = req.template.get("memoize")
        if memo and self.cache_dir is not None:
            name = ((memo.get("cache") or {}).get("configMap") or {}).get("name", "memoize")
            if name not in self.memo_caches:
                self.memo_caches[name] = ResultCache(
                    self.cache_dir / f"configmap-{name}.jsonl", name
                )
            return self.memo_caches[name], str(memo["key"])
        if self.cache is not None:
            return self.cache, cache_key(req, template, self.digests)
        return None, None

    def _submit(self, req: PodRequest) -> Future[PodResult]:
        cache, key = self._lookup(req)
        entry = None
        if cache is not None and key:
            max_age = (req.template.get("memoize") or {}).get("maxAge")
            entry = cache.get(key) if getattr(cache, "reuse", True) else None
            entry = None if entry and expired(entry, max_age, _now()) else entry
            self.keys[req.node_id] = key
            self.key_caches[req.node_id] = cache
        run_dir = self.runs.run_dir(self.name)
        template = self.op.templates[self.op.nodes[req.node_id]["templateName"]]
        cancel = self.cancels[req.node_id] = threading.Event()
        if "http" in template:
            from .http import HttpPod

            return self._start(HttpPod(req, self.host), cache, key, entry, cancel)
        pod_class = LocalPod if runs_nbflow(template) else _host_pod()
        if pod_class is not LocalPod:  # {{steps.X.hostNodeName}}: the machine it runs on
            self.op.nodes[req.node_id]["hostNodeName"] = socket.gethostname()
        try:
            pod = pod_class(
                req,
                self.store,
                run_dir / "pods" / req.node_id,
                self.runs.separate_log(self.name, req.node_id, "run again"),
                self.workdir,
                pid_file=run_dir / "pids" / req.node_id,
                discard=self.trash.discard if self.trash is not None else None,
                **self._server_for(template),
                **({} if pod_class is LocalPod else self._host_kwargs(req)),
            )
        except NbflowError as exc:  # e.g. a path the host cannot map: this pod errors
            return self.pool.submit(PodResult, Phase.ERROR, str(exc))
        pod.expect = self.digests.expect(req.inputs)
        return self._start(pod, cache, key, entry, cancel)

    def _start(
        self, pod: Any, cache: ResultCache | None, key: str | None,
        entry: dict[str, Any] | None, cancel: threading.Event,
    ) -> Future[PodResult]:
        if entry is not None and cache is not None and key:
            return self.pool.submit(self._hit_or_run, pod, entry, cache, key, cancel)
        return self.pool.submit(pod.run, cancel)

    def _hit_or_run(
        self, pod: Any, entry: dict[str, Any], cache: ResultCache, key: str,
        cancel: threading.Event,
    ) -> PodResult:
        """Replay a cache hit whose outputs are intact; else forget the entry and run the pod."""
        if check_entry(entry, self.store) is None:
            return replay(pod.req, entry, self.store, key, cache.name)
        cache.drop(key)
        return pod.run(cancel)

    def _host_kwargs(self, req: PodRequest) -> dict[str, Any]:
        def ready(ip: str) -> None:
            with self.lock:
                self.op.pod_ready(req.node_id, ip)

        return {"host": self.host, "on_ready": ready}

    def _server_for(self, template: dict[str, Any]) -> dict[str, Any]:
        if self.server is None or not runs_nbflow(template) or template["name"] in self.fallbacks:
            return {}
        return {"server": self.server}

    def _record(self, node_id: str, result: PodResult) -> None:
        """Remember a succeeded pod's digests and, on a cache miss, its result."""
        key = self.keys.pop(node_id, None)
        cache = self.key_caches.pop(node_id, None)
        if result.phase != Phase.SUCCEEDED:
            return
        self.digests.add(result.outputs, task_of(self.op.nodes[node_id].get("name") or ""))
        if key is not None and cache is not None and not result.memoization:
            try:
                cache.put(key, entry_of(result, self.op.nodes[node_id]))
            except OSError as exc:
                if exc.errno in FULL:
                    raise DiskFull(f"no space left on the device to write {cache.path}") from None
                raise
            self.op.nodes[node_id]["memoizationStatus"] = {
                "hit": False,
                "key": key,
                "cacheName": cache.name,
            }

    def _result(self, fut: Future[PodResult]) -> PodResult:
        try:
            result = fut.result()
        except DiskFull:
            raise  # the engine's own writes failed: the whole run stops
        except Exception as exc:  # a bug or an I/O failure in the worker: the pod errored
            if isinstance(exc, OSError) and exc.errno in FULL:
                raise DiskFull(f"no space left on the device ({exc.filename or exc})") from None
            return PodResult(Phase.ERROR, f"{type(exc).__name__}: {exc}")
        if result.message == CANCELLED and (self.op.shutdown or self.op.deadline_passed):
            result.message = self.op.stop_message
        return result

    def resume(self, names: list[str] | None = None) -> list[str]:
        """Resume suspended nodes (all, or those named); return the display names resumed."""
        with self.lock:
            return self.op.resume_nodes(names)

    def _read_control(self) -> None:
        """Apply a request another process left for this run (``nbflow stop``/``resume``)."""
        request = self.runs.take_control(self.name) or {}
        if request.get("shutdown"):
            self.stop(request["shutdown"])
        if "resume" in request:
            self.resume(request["resume"])

    def _cancel_halted(self) -> None:
        """Kill the running steps that a shutdown or the workflow deadline ended."""
        for node_id, cancel in self.cancels.items():
            if self.op.halted(self.op.nodes[node_id]["name"]):
                cancel.set()

    def _flush(self, force: bool = False) -> None:
        """Save the run record (paced, see SAVE_PACE; ``force``: now) and tell the listeners."""
        ids = list(dict.fromkeys(self.op.changed))
        self.op.changed.clear()
        self._unsaved = self._unsaved or bool(ids)
        if self._unsaved and (force or time.monotonic() >= self._next_save):
            start = time.monotonic()
            self.runs.save(self.wf)
            self._unsaved = False
            self._next_save = time.monotonic() + SAVE_PACE * (time.monotonic() - start)
        if not ids:
            return
        changed = [self.op.nodes[i] for i in ids if i in self.op.nodes]
        for listener in list(self.listeners):
            listener(self.wf, changed)
