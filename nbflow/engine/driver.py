"""The run-driver protocol every viewer uses, and the driver of runs on the local engine.

A run's *driver* is what makes it go on: the local engine (here), or a watch of a Workflow on a
cluster (:mod:`nbflow.cluster.run`). Both offer the same small surface — the Argo-shaped state
(``workflow``, ``phase``, ``nodes``) read under ``lock``, events (``subscribe``), and the actions
``stop``, ``resume``, ``retry`` and ``rerun`` — so that the widget, the CLI, the server and the
scheduler never need to know which one they talk to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import NbflowError
from .nodes import Node

if TYPE_CHECKING:
    from ..artifacts import ArtifactStore
    from ..config import NbflowConfig
    from .local import LocalEngine
    from .store import RunLock, RunStore

__all__ = ["Listener", "RunDriver", "Subscribers", "LocalDriver", "downstream"]

#: An event listener: called with the workflow and the nodes that changed, after every change.
Listener = Callable[[dict[str, Any], list[Node]], None]


@runtime_checkable
class RunDriver(Protocol):
    """What drives a run, as every viewer sees it.

    ``workflow`` is the Workflow object (spec, and status in Argo's shape); read it, or
    ``phase`` and ``nodes``, while holding ``lock`` when the run is live. ``subscribe`` calls a
    listener after every change (in the driver's thread) and returns what unsubscribes it.
    ``retry`` and ``rerun`` make the same driver go on with the run; viewers that subscribed stay
    subscribed.
    """

    #: The actions the driver can carry out at all (``stop``, ``resume``, ``retry``,
    #: ``rerun``, ``resume_run``: go on with a stopped or crashed run).
    actions: frozenset[str]

    @property
    def workflow(self) -> dict[str, Any]:
        """The Workflow object."""

    @property
    def phase(self) -> str:
        """The workflow phase (``""`` before it starts)."""

    @property
    def nodes(self) -> dict[str, Node]:
        """``status.nodes`` by node id."""

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Held by the driver while it changes ``workflow``."""

    @property
    def live(self) -> bool:
        """Whether this process is driving the run right now."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the driver stops working (or ``timeout`` passes); ``True`` if it did."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; return a function that unsubscribes it."""

    def stop(self, strategy: str = "Stop") -> None:
        """Stop the run like ``argo stop`` (exit handlers run) or ``"Terminate"``."""

    def resume(self, nodes: list[str] | None = None) -> list[str]:
        """Resume suspended nodes (all, or those named), and a stopped or crashed run."""

    def retry(self) -> None:
        """Run the failed nodes of an ended run again, and what their failure had omitted."""

    def rerun(self, task: str, manifest: dict[str, Any]) -> None:
        """Run ``task`` and its descendants again with ``manifest``'s (new) spec."""


class Subscribers:
    """Listeners of a driver, and the state queries every driver answers alike."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.listener_errors: list[BaseException] = []

    @property
    def workflow(self) -> dict[str, Any]:  # pragma: no cover - every driver overrides it
        raise NotImplementedError

    @property
    def phase(self) -> str:
        """The workflow phase (``""`` before it starts)."""
        return str((self.workflow.get("status") or {}).get("phase") or "")

    @property
    def nodes(self) -> dict[str, Node]:
        """``status.nodes`` by node id."""
        nodes: dict[str, Node] = (self.workflow.get("status") or {}).get("nodes") or {}
        return nodes

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(workflow, changed)`` after every change; return its unsubscriber."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, workflow: dict[str, Any], changed: list[Node]) -> None:
        """Tell every listener; a listener's bug is kept in ``listener_errors``, never raised
        into the driver (a viewer must not stop a run)."""
        for listener in list(self._listeners):
            try:
                listener(workflow, changed)
            except Exception as exc:
                self.listener_errors.append(exc)


class LocalDriver(Subscribers):
    """Drives a run of the local engine.

    It holds the engine that runs the run in this process, if one does, and starts a new one
    on the same record to resume a stopped or crashed run, retry its failures or rerun from a
    task. A run that another process drives is asked, through the run store, to stop or resume.

    Parameters
    ----------
    workflow : dict
        The run's Workflow, as recorded.
    settings : dict
        The run's settings (``run.json``): artifact root, working directory, origin.
    config : NbflowConfig
        Workers, engine, cache and home.
    runs : RunStore
        The run store holding the run.
    store : ArtifactStore
        The run's artifact store.
    """

    actions = frozenset({"stop", "resume", "retry", "rerun", "resume_run"})

    def __init__(
        self,
        workflow: dict[str, Any],
        settings: dict[str, Any],
        *,
        config: NbflowConfig,
        runs: RunStore,
        store: ArtifactStore,
    ) -> None:
        super().__init__()
        self._workflow = workflow
        self.settings = settings
        self.config = config
        self.runs = runs
        self.store = store
        self.engine: LocalEngine | None = None
        self._idle_lock = threading.RLock()
        self._held: RunLock | None = None  # the run's lock, from _reopen to the engine

    @property
    def name(self) -> str:
        """The run's name."""
        return str(self._workflow["metadata"]["name"])

    @property
    def workflow(self) -> dict[str, Any]:
        """The Workflow object (the engine's, while one runs it)."""
        return self.engine.wf if self.engine is not None else self._workflow

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """The engine's lock while one runs the run."""
        return self.engine.lock if self.engine is not None else self._idle_lock

    @property
    def live(self) -> bool:
        """Whether an engine in this process is still working on the run."""
        return self.engine is not None and not self.engine.finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until this process's engine is done (or ``timeout`` passes)."""
        return self.engine.finished.wait(timeout) if self.engine is not None else True

    # ------------------------------------------------------------------ running

    def start(self, *, wait: bool = False, resume: list[str] | None = None) -> list[str]:
        """Run the recorded workflow with a new engine; return the suspended nodes resumed.

        ``resume`` names suspended nodes to resume first (``[]``: none, ``None``: all). With
        ``wait`` the engine runs in this thread, else in a background thread.
        """
        from .local import LocalEngine
        from .volumes import HostOptions

        lock, self._held = self._held or self.runs.acquire(self.name), None
        try:
            engine = LocalEngine(
                self._workflow,
                runs=self.runs,
                store=self.store,
                workdir=Path(self.settings["workdir"]),
                max_workers=self.config.workers,
                max_pods=self.config.pod_limit,
                cache=self._cache(),
                cache_dir=Path(self.config.home) / "cache",
                engine=self.config.engine,
                host=HostOptions.from_settings(
                    self.settings, Path(self.config.home), self.config.host_exec_uid
                ),
            )
        except BaseException:
            lock.release()
            raise
        engine.run_lock = lock  # it releases the lock when it is done
        engine.listeners.append(self.emit)
        resumed = engine.resume(resume) if resume is None or resume else []
        self.engine = engine
        if wait:
            engine.run()
        else:
            engine.start()
        return resumed

    def _cache(self) -> Any:
        from .cache import workflow_cache

        cache = workflow_cache(self._workflow, Path(self.config.home) / "cache")
        cache.reuse = self.config.cache  # off: run everything, record (repair) the entries
        return cache

    def _reopen(self, plan: Callable[[dict[str, Any]], Any]) -> None:
        """Take the run back from its record to run it here, prepared by ``plan``.

        The run's lock is taken first and kept for the engine that :meth:`start` makes: while
        another process runs it, this refuses (:class:`~nbflow.errors.RunLocked`) and writes
        nothing; leftover steps are killed and the record is snapshot only once the plan holds.
        """
        from .worker import kill_leftover_pods

        if self.live:
            raise NbflowError(f"run {self.name} is still running")
        lock = self.runs.acquire(self.name)
        try:
            self._workflow, self.settings = self.runs.load(self.name)
            plan(self._workflow)
            self.engine = None
            kill_leftover_pods(self.runs.run_dir(self.name) / "pids")
            self.runs.snapshot(self.name)
        except BaseException:
            lock.release()
            raise
        self._held = lock

    # ------------------------------------------------------------------ actions

    def stop(self, strategy: str = "Stop") -> None:
        """Stop the run here, or ask the process that runs it to."""
        if self.live:
            assert self.engine is not None
            self.engine.stop(strategy)
        elif self.runs.is_locked(self.name):
            self.runs.request(self.name, shutdown=strategy)
        else:
            raise NbflowError(f"run {self.name} is not running ({self.phase or 'never started'})")

    def resume(self, nodes: list[str] | None = None) -> list[str]:
        """Resume suspended nodes; a run nothing drives (stopped, crashed) goes on here.

        When another process runs it, that process is asked to resume them and ``[]`` is
        returned (what it resumes is known once it has).
        """
        from .recovery import resume_plan

        if self.live:
            assert self.engine is not None
            return self.engine.resume(nodes)
        if self.runs.is_locked(self.name):
            self.runs.request(self.name, resume=nodes)
            return []
        self._reopen(resume_plan)
        return self.start(resume=nodes)

    def retry(self) -> None:
        """Run the failed and errored steps of an ended run again, and what depends on them."""
        from .recovery import retry_plan

        self._reopen(retry_plan)
        self.start()

    def rerun(self, task: str, manifest: dict[str, Any]) -> None:
        """Rerun ``task`` and everything downstream of it with ``manifest``'s spec; every other
        task keeps its results. The run's workflow parameters keep their values."""
        from .dagplan import DagPlan
        from .recovery import rerun_plan

        def plan(wf: dict[str, Any]) -> None:
            params = (wf["spec"].get("arguments") or {}).get("parameters") or []
            old = {p["name"]: p for p in params}
            spec = manifest["spec"]
            for p in (spec.get("arguments") or {}).get("parameters") or []:
                if p["name"] in old:
                    p["value"] = old[p["name"]]["value"]
            entry = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
            dag = DagPlan.of(entry)
            if task not in dag.by_name:
                tasks = ", ".join(dag.by_name)
                raise NbflowError(f"workflow has no task {task!r} (tasks: {tasks})")
            wf["spec"] = spec
            rerun_plan(wf, downstream(dag.depends, task))

        self._reopen(plan)
        self.start()


def downstream(depends: dict[str, tuple[str, list[str]]], task: str) -> list[str]:
    """``task`` and every task that depends on it, directly or not."""
    out = [task]
    for name in out:
        out += [t for t, (_, deps) in depends.items() if name in deps and t not in out]
    return out
