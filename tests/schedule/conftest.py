"""Fixtures of the schedule tests: a fake clock, a launcher of fake runs, schedules in a home."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from nbflow.schedule.policy import rfc3339
from nbflow.schedule.scheduler import RunState, Scheduler
from nbflow.schedule.store import ScheduleRecord, ScheduleStore

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock that tests move; ``wait`` returns at once."""

    def __init__(self, now: datetime = T0) -> None:
        self.t = now

    def now(self) -> datetime:
        return self.t

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        return event.is_set()

    def move(self, **delta: float) -> datetime:
        self.t += timedelta(**delta)
        return self.t


class FakeLauncher:
    """Runs that exist only as phases the test sets; records what the scheduler asked."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.terminated: list[str] = []
        self.deleted: list[str] = []
        self.states: dict[str, RunState] = {}

    def start(self, run: str) -> None:
        self.started.append(run)
        self.states.setdefault(run, RunState(True, "Running"))

    def state(self, run: str) -> RunState:
        return self.states.get(run, RunState(False))

    def terminate(self, run: str) -> None:
        self.terminated.append(run)

    def delete(self, run: str) -> None:
        self.deleted.append(run)

    def end(self, run: str, phase: str, at: datetime) -> None:
        self.states[run] = RunState(False, phase, rfc3339(at))


def cron(name: str = "nightly", **spec: Any) -> dict[str, Any]:
    """A CronWorkflow with a one-template workflow spec."""
    body = {"schedules": ["0 2 * * *"], **spec,
            "workflowSpec": {"entrypoint": "main", "templates": [{"name": "main"}]}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
            "metadata": {"name": name}, "spec": body}


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture()
def add(home: Path, clock: FakeClock):
    """Add a schedule (a CronWorkflow spec) to the home, anchored at the clock's time."""

    def add_(name: str = "nightly", **spec: Any) -> ScheduleRecord:
        rec = ScheduleRecord(cron(name, **spec), {"code": "snapshot"}, rfc3339(clock.now()), {})
        store = ScheduleStore(home)
        store.put(rec)
        store.close()
        return rec

    return add_


@pytest.fixture()
def scheduler(home: Path, clock: FakeClock, launcher: FakeLauncher):
    s = Scheduler(home, launcher=launcher, clock=clock)
    yield s
    s.store.close()
    s.release()
