"""The server extension's state: settings, the run index, the runs driven in this process, warm
fork servers and the threads that do blocking work off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import NbflowError

if TYPE_CHECKING:
    from ..config import NbflowConfig
    from ..engine.run import Run
    from ..engine.warm import WarmServers

__all__ = ["NbflowService", "PathRefused"]

T = TypeVar("T")
_log = logging.getLogger(__name__)


def _background() -> None:
    """Lower this thread's CPU priority (and that of the ``dot`` it starts): work done ahead
    must not slow the requests being answered."""
    with contextlib.suppress(OSError, AttributeError):  # Linux: a thread is a task of its own
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + 10))


class PathRefused(NbflowError, PermissionError):
    """A path outside the server's root directory."""


class NbflowService:
    """What every handler of the extension shares.

    Parameters
    ----------
    config : NbflowConfig
        nbflow's settings (home, artifact root, engine...).
    root : Path
        The Jupyter server's root directory; notebook paths are confined to it.
    threads : int
        Threads for blocking work (reading records, starting runs, laying graphs out on
        request); one more lays the graphs of new runs out ahead of their first view.
    warm : WarmServers, optional
        Fork servers kept started for the runs this server starts.
    """

    def __init__(
        self, config: NbflowConfig, root: Path, *, threads: int = 4, warm: WarmServers | None = None
    ) -> None:
        from ..history import RunIndex

        self.config = config
        self.root = Path(root).resolve()
        self.index = RunIndex(config.runs_dir, self.root)
        self.adopted: dict[str, Run] = {}  # runs started here, until the hub saw them end
        self.warm = warm
        self.listeners: list[Callable[[str], None]] = []  # told the id of a live run that changed
        self.closed = False
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, threads), thread_name_prefix="nbflow-server"
        )
        self._ahead = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="nbflow-layout", initializer=_background
        )
        self._laid_out: set[str] = set()  # runs laid out ahead (or queued)

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a worker thread and wait for it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ paths

    def confine(self, path: str) -> Path:
        """The file ``path`` (relative to the root, ``/``-separated) names, inside the root.

        Raises :class:`PathRefused` when it resolves outside the root (``..``, a link).
        """
        if not isinstance(path, str) or not path.strip() or "\0" in path:
            raise PathRefused("give the path of a notebook, relative to the server's root")
        full = (self.root / path.lstrip("/")).resolve()
        if full != self.root and self.root not in full.parents:
            raise PathRefused(f"{path!r} is outside the server's root directory")
        return full

    def prepare_warm(self, path: Path, workflow: str | None) -> None:
        """Have a fork server warm up in the background for the next run of this workflow."""
        if self.warm is not None and self.config.engine == "fast" and not self.closed:
            self._executor.submit(self._prepare_warm, path, workflow)

    def _prepare_warm(self, path: Path, workflow: str | None) -> None:
        from .. import api
        from ..argo.container import runs_nbflow
        from ..engine.fast import fallback_reason
        from ..engine.warm import ServerKind

        try:
            source, _, base, _ = api.load_source(path, workflow)
            manifest = api.compile_workflow(source, config=self.config, base_dir=base)
        except NbflowError:
            return  # the notebook has a problem: running it will say which
        except Exception:  # a warm-up only: the run will start its own server
            _log.exception("nbflow: warming a fork server up for %s failed", path)
            return
        steps = [t for t in manifest["spec"]["templates"] if runs_nbflow(t)]
        if self.warm is not None and any(fallback_reason(t) is None for t in steps):
            self.warm.prepare(ServerKind.of_workflow(manifest, self.config.workers, base))

    def lay_out_ahead(self, run_id: str) -> None:
        """Have the graph of run ``run_id`` laid out in the background, once, into the home's
        layouts, so that its first view (even after a server restart) does not wait for
        ``dot``: a 1,000-task graph takes it most of a second."""
        with self._lock:
            if self.closed or run_id in self._laid_out:
                return
            self._laid_out.add(run_id)
        with contextlib.suppress(RuntimeError):  # closed meanwhile: nobody will view it here
            self._ahead.submit(self._lay_out, run_id)

    def _lay_out(self, run_id: str) -> None:
        from ..engine.store import RunStore
        from .views import lay_out

        try:  # the record is enough: no engine driver, artifact store or cluster call
            if self.adopted_run(run_id) is not None:
                workflow = self.snapshot(run_id)[0].workflow
            else:
                workflow = RunStore(self.config.runs_dir).load(run_id)[0]
            lay_out(workflow, self.config.layouts_dir)
        except NbflowError:
            return  # deleted or unreadable meanwhile: its view will say so
        except Exception:  # ahead of time only: a view lays it out again
            _log.exception("nbflow: laying run %s out failed", run_id)

    # ------------------------------------------------------------------ runs

    def adopt(self, run: Run) -> Run:
        """Keep ``run`` (driven in this process) and tell listeners of its changes."""
        if run.live:
            with self._lock:
                self.adopted[run.id] = run
            run.subscribe(lambda wf, changed: self._changed(run.id))
        self._changed(run.id)
        return run

    def _changed(self, run_id: str) -> None:
        for listener in list(self.listeners):
            listener(run_id)

    def adopted_run(self, run_id: str) -> Run | None:
        """The run object of run ``run_id`` if it was started here (it may have ended)."""
        with self._lock:
            return self.adopted.get(run_id)

    def forget(self, run: Run) -> None:
        """Stop keeping ``run`` (it has ended), unless another run object took its place."""
        with self._lock:
            if self.adopted.get(run.id) is run:
                del self.adopted[run.id]

    def driven_here(self, run_id: str) -> Run | None:
        """The run object if an engine of this process drives run ``run_id`` now."""
        run = self.adopted_run(run_id)
        return run if run is not None and run.live else None

    def capabilities(self, run_id: str, run: Run) -> list[str] | None:
        """What the driver of run ``run_id`` can do at all (``stop``, ``rerun``...; a cluster
        run cannot rerun from a task), or ``None`` when ``run`` (a snapshot) has none."""
        adopted = self.adopted_run(run_id)
        driver = adopted.driver if adopted is not None else run.driver
        return sorted(driver.actions) if driver is not None else None

    def settings_of(self, run_id: str) -> dict[str, Any]:
        """The settings recorded for run ``run_id`` (``run.json``)."""
        from ..engine.store import RunStore

        return self.index.settings(run_id) or RunStore(self.config.runs_dir).settings(run_id)

    def snapshot(self, run_id: str) -> tuple[Run, dict[str, Any]]:
        """A stable copy of the run to read, and its settings (blocking).

        A run started here is copied from memory under its engine's lock; any other is loaded
        from the run store (or the cluster).
        """
        from .. import api
        from ..engine.run import Run

        run = self.adopted_run(run_id)
        if run is None:
            loaded = api.get_run(run_id, config=self.config)
            return loaded, self.settings_of(loaded.id)
        with run.lock:
            workflow = copy.deepcopy(run.workflow)
        return Run(workflow, run.store, run.run_dir), self.settings_of(run_id)

    def summary(self, run: Run, settings: dict[str, Any]) -> dict[str, Any]:
        """The summary of ``run`` now (blocking: it may look at the run's lock)."""
        from ..summary import summarize

        adopted = self.adopted_run(run.id)
        if adopted is not None:
            live = adopted.live
        else:
            live = self.index.live(run.id, run.workflow, settings)
        return summarize(run.workflow, settings, live=live, root=self.root)

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """Stop the runs driven here (the server is going away) and wait for them to end."""
        with self._lock:
            runs, self.adopted = list(self.adopted.values()), {}
        for run in runs:
            if run.live:
                with contextlib.suppress(NbflowError):
                    run.stop("Stop")
        for run in runs:
            run.wait(timeout_s)

    def close(self) -> None:
        """Release the threads (after :meth:`stop_all`)."""
        self.closed = True
        self._ahead.shutdown(wait=True, cancel_futures=True)
        self._executor.shutdown(wait=True, cancel_futures=True)
