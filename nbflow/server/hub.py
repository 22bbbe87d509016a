"""Live updates for the browser: what changed in which run, batched, to every connected client.

Runs of other processes (``nbflow run``, a kernel) are noticed by polling the run store's file
times (:class:`nbflow.history.RunIndex`); runs driven in the server by their engine's events.
Every client gets ``{"type": "run", "run": summary}`` when a run appears or its summary changes
and ``{"type": "deleted", "run": id}`` when it goes; a client that subscribed to a run also gets
``{"type": "nodes", "run": id, "nodes": {graph node id: state}}`` with the states that changed
(all of them, with ``"full": true``, right after it subscribes). One run is sent at most every
``batch_interval_s``. The graph of every run that appears, and at start of the newest runs, is
laid out ahead of its first view (:meth:`NbflowService.lay_out_ahead`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NbflowError
from ..vocab import COMPLETED
from ..widget.state import graph_shape, task_states

if TYPE_CHECKING:
    from ..engine.run import Run
    from .service import NbflowService

__all__ = ["EventHub", "Client"]

_log = logging.getLogger(__name__)
SETTLE_S = 30.0  # longest wait for the engine of an ended run to finish closing
AHEAD_AT_START = 10  # runs laid out ahead when the server starts: the newest ones


class Client(Protocol):
    """A connected browser: the runs it subscribed to, and how to send it a message."""

    subscriptions: set[str]

    def send(self, message: dict[str, Any]) -> bool:
        """Send ``message``; ``False`` when the connection is gone."""


class EventHub:
    """Watches the runs and pushes what changed to the clients.

    Parameters
    ----------
    service : NbflowService
        The extension's state (run index, runs driven here, worker threads).
    poll_interval_s : float
        How often the run store is checked for runs that other processes changed.
    batch_interval_s : float
        Least time between two updates of the same run.
    """

    def __init__(
        self, service: NbflowService, poll_interval_s: float = 0.5, batch_interval_s: float = 0.15
    ) -> None:
        self.service = service
        self.poll_interval_s = poll_interval_s
        self.batch_interval_s = batch_interval_s
        self.clients: set[Client] = set()
        self._states: dict[str, dict[str, Any]] = {}  # last node states sent, by run
        self._dirty: set[str] = set()
        self._last_sent: dict[str, float] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references
        self._known: set[str] | None = None  # runs seen, from the first poll on

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start watching the run store (once; called from the event loop).

        A server calls it when its loop starts; every request calls it too, since servers
        embedded in tests never run that step.
        """
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.service.listeners.append(self.touch)
        self._task = self._loop.create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling and forget the clients."""
        with contextlib.suppress(ValueError):
            self.service.listeners.remove(self.touch)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for task in [self._task, *self._flushes]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.clients.clear()

    async def _poll(self) -> None:
        first = True
        while True:
            if not first:
                await asyncio.sleep(self.poll_interval_s)
            first = False
            if self.service.closed:
                return
            try:
                await self.service.blocking(self.service.index.refresh)
            except Exception:  # keep polling: one unreadable record must not stop updates
                _log.exception("nbflow: reading the run store failed")
                continue
            changed, gone = self.service.index.drain()
            self._lay_out_new(changed, gone)
            for run_id in changed:
                summary = self.service.index.get(run_id)
                if summary is not None:
                    self._broadcast({"type": "run", "run": summary})
                if self._subscribers(run_id):
                    self._mark(run_id)
            for run_id in gone:
                self._states.pop(run_id, None)
                self._last_sent.pop(run_id, None)
                self._broadcast({"type": "deleted", "run": run_id})

    def _lay_out_new(self, changed: list[str], gone: list[str]) -> None:
        """Lay out the graphs of runs that appeared; on the first poll (the whole home), of the
        newest ``AHEAD_AT_START`` only."""
        if self._known is None:
            self._known = set(changed)
            rows, _ = self.service.index.query(limit=AHEAD_AT_START)
            new = [row["id"] for row in rows]
        else:
            new = [run_id for run_id in changed if run_id not in self._known]
            self._known.update(new)
            self._known.difference_update(gone)
        for run_id in new:
            self.service.lay_out_ahead(run_id)

    # ------------------------------------------------------------------ changes

    def touch(self, run_id: str) -> None:
        """A run driven here changed (called from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._mark, run_id)

    def _mark(self, run_id: str) -> None:
        self._dirty.add(run_id)
        if self._flush_handle is not None or self._loop is None:
            return
        earliest = min(self._last_sent.get(r, 0.0) for r in self._dirty) + self.batch_interval_s
        delay = max(0.0, earliest - time.monotonic())
        self._flush_handle = self._loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        assert self._loop is not None
        task = self._loop.create_task(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        now = time.monotonic()
        due = {r for r in self._dirty if now - self._last_sent.get(r, 0.0) >= self.batch_interval_s}
        self._dirty -= due
        for run_id in due:
            self._last_sent[run_id] = now
            try:
                await self._update(run_id)
            except NbflowError:
                pass  # deleted meanwhile: the poll reports it
            except Exception:
                _log.exception("nbflow: updating run %s failed", run_id)
        if self._dirty and self._loop is not None:
            dirty, self._dirty = self._dirty, set()
            for run_id in dirty:
                self._mark(run_id)

    async def _update(self, run_id: str) -> None:
        service = self.service
        watched = bool(self._subscribers(run_id))
        adopted = service.adopted_run(run_id)
        if adopted is None and not watched:
            return
        if adopted is not None:
            run, settings = await service.blocking(service.snapshot, run_id)
            workflow = run.workflow
            # started here: the summary comes from memory, which may be ahead of the file
            await self._put(workflow, settings, adopted.live)
            if run.phase in COMPLETED or not adopted.live:
                await self._ended(adopted, settings)
        else:  # another process's run: its record as the poll read it, else read now
            recorded = service.index.recorded(run_id)
            if recorded is None:
                recorded = (await service.blocking(service.snapshot, run_id))[0].workflow
            workflow = recorded
        if watched:
            states = await service.blocking(_states, workflow)
            old = self._states.get(run_id, {})
            changed = {k: v for k, v in states.items() if old.get(k) != v}
            self._states[run_id] = states
            if changed:
                self._send_to(run_id, {"type": "nodes", "run": run_id, "nodes": changed})

    async def _ended(self, run: Run, settings: dict[str, Any]) -> None:
        """A run started here has ended: wait for its engine to close, then let it go."""
        service = self.service
        await service.blocking(run.wait, SETTLE_S)
        if run.live:
            self._mark(run.id)  # still closing: look again
            return
        final, _ = await service.blocking(service.snapshot, run.id)
        await self._put(final.workflow, settings, False)
        service.forget(run)
        if service.adopted_run(run.id) is None:
            service.index.release(run.id)

    async def _put(self, workflow: dict[str, Any], settings: dict[str, Any], live: bool) -> None:
        index = self.service.index
        self.service.lay_out_ahead(workflow["metadata"]["name"])  # a run started here
        if await self.service.blocking(index.put, workflow, settings, live):
            summary = index.get(workflow["metadata"]["name"])
            if summary is not None:
                self._broadcast({"type": "run", "run": summary})

    # ------------------------------------------------------------------ clients

    async def subscribe(self, client: Client, run_id: str) -> None:
        """Send ``client`` the run's node states now, then their changes."""
        run, _ = await self.service.blocking(self.service.snapshot, run_id)
        states = await self.service.blocking(_states, run.workflow)
        if not self._subscribers(run_id):
            self._states[run_id] = states
            self.service.index.follow(run_id)
        client.subscriptions.add(run_id)
        client.send({"type": "nodes", "run": run_id, "nodes": states, "full": True})
        self._mark(run_id)  # in case it changed while the client was not subscribed

    def unsubscribe(self, client: Client, run_id: str | None = None) -> None:
        """Stop sending ``client`` the node states of ``run_id`` (``None``: of every run)."""
        runs = {run_id} if run_id is not None else set(client.subscriptions)
        client.subscriptions -= runs
        for run in runs:
            if not self._subscribers(run):
                self._states.pop(run, None)
                self.service.index.follow(run, on=False)

    def _subscribers(self, run_id: str) -> list[Client]:
        return [c for c in self.clients if run_id in c.subscriptions]

    def _send_to(self, run_id: str, message: dict[str, Any]) -> None:
        for client in self._subscribers(run_id):
            if not client.send(message):
                self.clients.discard(client)

    def _broadcast(self, message: dict[str, Any]) -> None:
        for client in list(self.clients):
            if not client.send(message):
                self.clients.discard(client)


def _states(workflow: dict[str, Any]) -> dict[str, Any]:
    return task_states(workflow, graph_shape(workflow))
