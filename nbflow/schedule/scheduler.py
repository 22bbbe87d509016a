"""The local scheduler: fires the home's schedules on time, with Argo's CronWorkflow semantics.

One scheduler per home holds ``<home>/schedules/scheduler.lock`` (``flock``, released by the
kernel when the process dies, even by SIGKILL). Each look (:meth:`Scheduler.step`) reloads
schedules changed by other processes, notices runs that ended (counters, ``stopStrategy``,
history limits), and fires the ticks that are due. A fire is recorded in SQLite before its run
starts; the run is named ``<schedule>-<unix seconds>``, so after any crash a tick is neither
lost between record and start (the run is started then) nor started twice.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from ..errors import NbflowError
from .clock import Clock, Launcher, RunState, SystemClock
from .cron import next_time
from .policy import (
    ON_TIME_S,
    child_name,
    decide,
    due_and_next,
    finished,
    history_to_delete,
    parse_time,
    rfc3339,
)
from .store import ScheduleRecord, ScheduleStore, schedules_dir

__all__ = ["Clock", "SystemClock", "Launcher", "RunState", "Scheduler", "SchedulerBusy"]

log = logging.getLogger("nbflow.scheduler")
POLL_S = 1.0  # how often the scheduler looks for changed schedules and ended runs
STANDBY_S = 5.0  # how often a scheduler on standby tries to take the home's lock


class SchedulerBusy(NbflowError):
    """Another scheduler already runs for this home."""


class Scheduler:
    """The scheduler of one home.

    Parameters
    ----------
    home : path
        The nbflow home whose schedules it fires.
    launcher : Launcher, optional
        How runs start (default: :class:`~.launch.ProcessLauncher`, one process per run).
    clock : Clock, optional
        Default: the system clock.
    """

    def __init__(
        self, home: str | Path, *, launcher: Launcher | None = None, clock: Clock | None = None
    ) -> None:
        self.home = Path(home)
        self.store = ScheduleStore(home)
        if launcher is None:
            from .launch import ProcessLauncher

            launcher = ProcessLauncher(self.home)
        self.launcher = launcher
        self.clock: Clock = clock or SystemClock()
        self.records: dict[str, ScheduleRecord] = {}
        self.next_due: dict[str, datetime] = {}
        self._since: dict[str, datetime] = {}
        self._version = -1
        self._last: datetime | None = None
        self._up_since: datetime | None = None
        self._lock_file: IO[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired: list[str] = []  # runs fired by this scheduler, in order

    # ------------------------------------------------------------------ life cycle

    def acquire(self) -> None:
        """Take the home's scheduler lock, or raise :class:`SchedulerBusy`."""
        import fcntl

        folder = schedules_dir(self.home)
        folder.mkdir(parents=True, exist_ok=True)
        f = open(folder / "scheduler.lock", "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            f.close()
            raise SchedulerBusy(
                f"another scheduler (pid {pid}) already runs the schedules of {self.home}"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f

    def release(self) -> None:
        """Give the lock back."""
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the flock
            self._lock_file = None

    @property
    def active(self) -> bool:
        """Whether this scheduler holds the home's lock (and so fires its schedules)."""
        return self._lock_file is not None

    def start(self, *, standby: bool = False) -> Scheduler:
        """Run in a background thread (e.g. inside a Jupyter server).

        Without ``standby`` the lock is taken first (:class:`SchedulerBusy` if another
        scheduler has it). With ``standby`` the thread waits for the lock, looking every
        ``STANDBY_S``: a server whose home already has a scheduler (``nbflow scheduler`` under
        systemd) takes over when that one stops.
        """
        if not standby:
            self.acquire()
        self._stop.clear()
        target = self._serve_when_free if standby else self._serve
        self._thread = threading.Thread(target=target, name="nbflow-scheduler", daemon=True)
        self._thread.start()
        return self

    def _serve_when_free(self) -> None:
        while not self._stop.is_set():
            try:
                self.acquire()
            except SchedulerBusy as exc:
                log.info("%s; standing by", exc)
                self.clock.wait(self._stop, STANDBY_S)
            else:
                self._serve()
                return

    def stop(self, timeout_s: float | None = 10.0) -> None:
        """Stop the loop (runs already started go on) and release the lock."""
        self._stop.set()
        if self._thread is not None:  # else serve_forever releases the lock when it returns
            self._thread.join(timeout_s)
            self._thread = None
            self.release()

    def serve_forever(self) -> None:
        """Take the lock and run in this thread until :meth:`stop` (e.g. from a signal)."""
        self.acquire()
        try:
            self._serve()
        finally:
            self.release()

    def _serve(self) -> None:
        log.info("scheduler of %s started", self.home)
        while not self._stop.is_set():
            try:
                self.step(self.clock.now())
            except Exception:  # one bad schedule must not stop the others
                log.exception("scheduler step failed")
            self.clock.wait(self._stop, self.wait_s(self.clock.now()))
        self.store.close()
        log.info("scheduler of %s stopped", self.home)

    # ------------------------------------------------------------------ one look

    def step(self, now: datetime) -> float:
        """Do what is due at ``now``; return how long to wait before the next look."""
        if self._last is None or (now - self._last).total_seconds() > ON_TIME_S:
            self._up_since = now  # first look, or back from a gap: ticks before were missed
        self._last = now
        self._reload()
        self._reconcile(now)
        due: list[tuple[ScheduleRecord, datetime]] = []
        for name, when in list(self.next_due.items()):
            if when <= now and name in self.records:
                due += self._due(self.records[name], now)
        if due:
            self.fire_all(due, now)
        return self.wait_s(now)

    def wait_s(self, now: datetime) -> float:
        """How long to wait at ``now`` before the next look (a tick due, or the next poll)."""
        soonest = min(self.next_due.values(), default=now + timedelta(seconds=POLL_S))
        return max(0.0, min(POLL_S, (soonest - now).total_seconds()))

    def _reload(self) -> None:
        version = self.store.version()
        if version == self._version:
            return
        self._version = version
        fresh = {r.name: r for r in self.store.all()}
        for name, rec in fresh.items():
            old = self.records.get(name)
            if old is None or old.cron != rec.cron or old.anchor != rec.anchor:
                last = rec.status.get("lastScheduledTime")
                since = max(parse_time(rec.anchor), parse_time(last) if last else _EPOCH)
                self._since[name] = since
        self.records = fresh
        for name in list(self._since):
            if name not in fresh:
                del self._since[name]
        self.next_due = {n: self._next(r, self._since[n]) for n, r in fresh.items()}

    def _next(self, rec: ScheduleRecord, after: datetime) -> datetime:
        spec = rec.spec
        if spec.get("suspend") or rec.status.get("phase") == "Stopped":
            return _NEVER
        return next_time(spec["schedules"], spec.get("timezone"), after, parse_time(rec.anchor))

    def _due(self, rec: ScheduleRecord, now: datetime) -> list[tuple[ScheduleRecord, datetime]]:
        assert self._up_since is not None
        anchor = parse_time(rec.anchor)
        ticks, after = due_and_next(rec.spec, self._since[rec.name], now, anchor, self._up_since)
        self._since[rec.name] = now
        paused = rec.spec.get("suspend") or rec.status.get("phase") == "Stopped"
        self.next_due[rec.name] = _NEVER if paused else after
        return [(rec, t) for t in ticks]

    def fire(self, rec: ScheduleRecord, tick: datetime, now: datetime) -> str | None:
        """Fire ``rec`` for the scheduled time ``tick`` if its policies allow; return the run."""
        started = self.fire_all([(rec, tick)], now)
        return started[0] if started else None

    def fire_all(self, ticks: list[tuple[ScheduleRecord, datetime]], now: datetime) -> list[str]:
        """Fire ticks (Argo's ``enforceRuntimePolicy`` for each, in order), record all the
        fires in one transaction, then start their runs; return the runs started."""
        planned: list[tuple[ScheduleRecord, str, datetime, dict[str, Any]]] = []
        for rec, tick in ticks:
            decision = decide(rec.spec, rec.status, rec.name)
            if not decision.fire:
                log.info("%s: tick %s skipped: %s", rec.name, rfc3339(tick), decision.reason)
                continue
            for old in decision.terminate:
                log.info("%s: concurrencyPolicy Replace terminates %s", rec.name, old)
                self.launcher.terminate(old)
            run = child_name(rec.name, tick)
            rec.status = {
                **rec.status,
                "active": [*(rec.status.get("active") or []), run],
                "lastScheduledTime": rfc3339(tick),
                "phase": "Active",
            }
            planned.append((rec, run, tick, rec.status))
        if not planned:
            return []
        recorded = self.store.record_fires(
            [(rec.name, run, rfc3339(tick), rfc3339(now), st) for rec, run, tick, st in planned])
        started = []
        for (rec, run, tick, _), ok in zip(planned, recorded):
            if not ok:
                log.info("%s: %s was fired already", rec.name, run)
                rec.status = self.store.get(rec.name).status
                continue
            self.fired.append(run)
            log.info("%s: fired %s (scheduled %s)", rec.name, run, rfc3339(tick))
            self.launcher.start(run)
            started.append(run)
        return started

    # ------------------------------------------------------------------ ended runs

    def _reconcile(self, now: datetime) -> None:
        ended: list[tuple[ScheduleRecord, str, RunState]] = []
        for rec in list(self.records.values()):
            for run in list(rec.status.get("active") or []):
                state = self.launcher.state(run)
                if state.done:
                    ended.append((rec, run, state))
                elif not state.alive:
                    # its process died before the run ended (or before it began): go on with it
                    log.warning("%s: run %s has no process; starting it again", rec.name, run)
                    self.launcher.start(run)
        if ended:
            self._ended(ended)

    def _ended(self, ended: list[tuple[ScheduleRecord, str, RunState]]) -> None:
        """Counters, ``stopStrategy`` and history limits once runs ended (one transaction)."""
        touched: dict[str, ScheduleRecord] = {}
        for rec, run, state in ended:
            rec.status = finished(rec.status, rec.spec, rec.name, run, state.phase)
            touched[rec.name] = rec
            log.info("%s: %s ended %s", rec.name, run, state.phase)
        self.store.finish_runs([(run, st.phase, st.finished_at) for _, run, st in ended],
                               {name: rec.status for name, rec in touched.items()})
        doomed: list[str] = []
        for rec in touched.values():
            old = history_to_delete(rec.spec, self.store.runs(rec.name))
            for run in old:
                self.launcher.delete(run)
            if old:
                log.info("%s: history limits deleted %s", rec.name, ", ".join(old))
            doomed += old
            if rec.status.get("phase") == "Stopped":
                self.next_due[rec.name] = _NEVER
        if doomed:
            self.store.mark_deleted(doomed)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NEVER = datetime(9999, 1, 1, tzinfo=timezone.utc)
