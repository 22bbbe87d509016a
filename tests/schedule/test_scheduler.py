"""The local scheduler with a fake clock and fake runs: Argo's CronWorkflow semantics."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nbflow.schedule.policy import child_name
from nbflow.schedule.scheduler import RunState, Scheduler, SchedulerBusy
from nbflow.schedule.store import ScheduleStore

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
MINUTELY = {"schedules": ["* * * * *"]}


def at(clock: Any, scheduler: Scheduler, **delta: float) -> list[str]:
    """Move the clock, let the scheduler look; return the runs fired by that look."""
    before = len(scheduler.fired)
    scheduler.step(clock.move(**delta))
    return scheduler.fired[before:]


def status(home: Path, name: str = "nightly") -> dict[str, Any]:
    store = ScheduleStore(home)
    try:
        return store.get(name).status
    finally:
        store.close()


def run(name: str, t: datetime) -> str:
    return child_name(name, t)


def test_fires_on_time_and_names_the_run_after_the_scheduled_time(
    scheduler: Scheduler, clock: Any, launcher: Any, add: Any, home: Path
) -> None:
    add(**MINUTELY)
    assert at(clock, scheduler, seconds=0) == []
    assert at(clock, scheduler, seconds=59) == []
    tick = T0 + timedelta(minutes=1)
    assert at(clock, scheduler, seconds=1.5) == [f"nightly-{int(tick.timestamp())}"]
    assert launcher.started == [run("nightly", tick)]
    st = status(home)
    assert st["lastScheduledTime"] == "2026-06-01T12:01:00Z"
    assert st["active"] == [run("nightly", tick)]
    assert scheduler.step(clock.now()) <= 1.0  # it looks again within a second


def test_allow_runs_concurrently(scheduler, clock, launcher, add) -> None:
    add(**MINUTELY, concurrencyPolicy="Allow")
    scheduler.step(clock.now())
    at(clock, scheduler, minutes=1)
    at(clock, scheduler, minutes=1)
    assert len(launcher.started) == 2 and launcher.terminated == []


def test_forbid_skips_while_a_run_is_active(scheduler, clock, launcher, add, home) -> None:
    add(**MINUTELY, concurrencyPolicy="Forbid")
    scheduler.step(clock.now())
    first = at(clock, scheduler, minutes=1)
    assert at(clock, scheduler, minutes=1) == []  # skipped: the first still runs
    launcher.end(first[0], "Succeeded", clock.now())
    assert len(at(clock, scheduler, minutes=1)) == 1
    assert status(home)["succeeded"] == 1


def test_replace_terminates_the_active_run_then_starts(scheduler, clock, launcher, add) -> None:
    add(**MINUTELY, concurrencyPolicy="Replace")
    scheduler.step(clock.now())
    first = at(clock, scheduler, minutes=1)
    second = at(clock, scheduler, minutes=1)
    assert launcher.terminated == first  # Argo's Replace: terminate (exit handlers do not run)
    assert launcher.started == first + second


def test_suspend_and_when_and_stop_strategy(scheduler, clock, launcher, add, home) -> None:
    add("paused", **MINUTELY, suspend=True)
    add("never", **MINUTELY, when="1 == 2")
    add("once", **MINUTELY, stopStrategy={"expression": "cronworkflow.succeeded >= 1"})
    scheduler.step(clock.now())
    fired = at(clock, scheduler, minutes=1)
    assert fired == [run("once", clock.now())]
    launcher.end(fired[0], "Succeeded", clock.now())
    assert at(clock, scheduler, minutes=1) == []
    assert status(home, "once")["phase"] == "Stopped"
    assert at(clock, scheduler, minutes=5) == []


def test_outage_runs_only_the_latest_missed_tick_within_the_deadline(
    scheduler, clock, launcher, add, home
) -> None:
    add(**MINUTELY, startingDeadlineSeconds=120)
    add("strict", **MINUTELY)  # no startingDeadlineSeconds: missed ticks never run
    scheduler.step(clock.now())
    at(clock, scheduler, minutes=1)  # 12:01 fires for both
    # the scheduler is down from 12:01 to 12:10:30 (a new one starts then)
    clock.move(minutes=9, seconds=30)
    later = Scheduler(home, launcher=launcher, clock=clock)
    fired = later.fired
    later.step(clock.now())
    assert fired == [run("nightly", T0 + timedelta(minutes=10))]  # not 12:02 .. 12:09
    assert status(home)["lastScheduledTime"] == "2026-06-01T12:10:00Z"
    later.step(clock.move(seconds=30))  # 12:11 is on time again, for both
    assert fired[1:] == [run("nightly", clock.now()), run("strict", clock.now())]
    later.store.close()


def test_outage_longer_than_the_deadline_runs_nothing(scheduler, clock, launcher, add) -> None:
    add(schedules=["0 2 * * *"], startingDeadlineSeconds=600)
    scheduler.step(clock.now())  # 12:00; the scheduler then is down until 02:11 the next day
    clock.move(hours=14, minutes=11)
    later = Scheduler(scheduler.home, launcher=launcher, clock=clock)
    later.step(clock.now())
    assert later.fired == []
    clock.move(hours=-14, minutes=-11)
    later.store.close()


def test_a_stalled_scheduler_treats_the_gap_as_an_outage(scheduler, clock, add) -> None:
    add(**MINUTELY, startingDeadlineSeconds=90)
    scheduler.step(clock.now())
    fired = at(clock, scheduler, minutes=5, seconds=10)  # e.g. the machine slept
    assert fired == [run("nightly", T0 + timedelta(minutes=5))]


def test_dst_through_the_scheduler(scheduler, clock, add) -> None:
    paris = ZoneInfo("Europe/Paris")
    clock.t = datetime(2026, 3, 28, 12, tzinfo=paris).astimezone(timezone.utc)
    add("spring", schedules=["30 2 * * *"], timezone="Europe/Paris")
    add("fall", schedules=["30 2 * * *"], timezone="Europe/Paris")
    scheduler.step(clock.now())
    for _ in range(24 * 4):  # 1 day, a look every 15 minutes
        at(clock, scheduler, minutes=15)
    assert [r for r in scheduler.fired if r.startswith("spring")] == []  # 02:30 did not exist
    clock.t = datetime(2026, 10, 24, 12, tzinfo=paris).astimezone(timezone.utc)
    scheduler.step(clock.now())  # a gap of months: an outage, nothing missed runs
    for _ in range(24 * 4):
        at(clock, scheduler, minutes=15)
    fall = [r for r in scheduler.fired if r.startswith("fall")]
    times = [datetime.fromtimestamp(int(r.rsplit("-", 1)[1]), paris) for r in fall]
    assert [t.strftime("%H:%M %Z") for t in times] == ["02:30 CEST", "02:30 CET"]


def test_history_limits_delete_the_oldest_finished_runs(scheduler, clock, launcher, add,
                                                       home) -> None:
    add(**MINUTELY, successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1)
    scheduler.step(clock.now())
    outcomes = ["Succeeded", "Failed", "Succeeded", "Error", "Succeeded", "Succeeded"]
    runs = []
    for phase in outcomes:
        runs += at(clock, scheduler, minutes=1)
        launcher.end(runs[-1], phase, clock.now() + timedelta(seconds=30))
    scheduler.step(clock.move(seconds=45))
    assert sorted(launcher.deleted) == sorted([runs[0], runs[1], runs[2]])
    store = ScheduleStore(home)
    kept = [r["run"] for r in store.runs("nightly")]
    store.close()
    assert kept == [runs[5], runs[4], runs[3]]  # newest first: 2 succeeded, 1 failed
    st = status(home)
    assert (st["succeeded"], st["failed"], st["active"]) == (4, 2, [])


def test_default_history_keeps_three_succeeded_and_one_failed(scheduler, clock, launcher,
                                                             add) -> None:
    add(**MINUTELY)
    scheduler.step(clock.now())
    runs = []
    for phase in ["Succeeded"] * 4 + ["Failed"] * 2:
        runs += at(clock, scheduler, minutes=1)
        launcher.end(runs[-1], phase, clock.now())
    scheduler.step(clock.move(seconds=1))
    assert sorted(launcher.deleted) == sorted([runs[0], runs[4]])


def test_a_fire_is_recorded_once_and_a_lost_start_is_made_up(home, clock, add) -> None:
    class Dies(Exception):
        pass

    class CrashingLauncher:
        def start(self, run: str) -> None:
            raise Dies  # the process dies between recording the fire and starting the run

        def state(self, run: str) -> Any:
            return RunState(False)

    add(**MINUTELY)
    first = Scheduler(home, launcher=CrashingLauncher(), clock=clock)  # type: ignore[arg-type]
    first.step(clock.now())
    with pytest.raises(Dies):
        first.step(clock.move(minutes=1))
    first.store.close()
    started: list[str] = []

    class Recorder:
        def start(self, run: str) -> None:
            started.append(run)

        def state(self, run: str) -> Any:
            return RunState(run in started, "Running" if run in started else "")

    second = Scheduler(home, launcher=Recorder(), clock=clock)  # type: ignore[arg-type]
    second.step(clock.move(seconds=5))
    assert started == [run("nightly", clock.now().replace(second=0))]  # started, once
    assert second.fired == []  # and not fired again
    second.step(clock.move(seconds=5))
    assert len(started) == 1
    second.store.close()


def test_a_duplicate_fire_is_refused(scheduler, clock, launcher, add) -> None:
    rec = add(**MINUTELY)
    tick = T0 + timedelta(minutes=1)
    assert scheduler.fire(rec, tick, tick) == run("nightly", tick)
    assert scheduler.fire(rec, tick, tick) is None
    assert launcher.started == [run("nightly", tick)]


def test_two_schedulers_on_one_home(home: Path, clock: Any, launcher: Any) -> None:
    one = Scheduler(home, launcher=launcher, clock=clock)
    one.acquire()
    two = Scheduler(home, launcher=launcher, clock=clock)
    with pytest.raises(SchedulerBusy, match=r"another scheduler \(pid \d+\) already runs"):
        two.acquire()
    code = ("from nbflow.schedule.scheduler import Scheduler; import sys; "
            "Scheduler(sys.argv[1]).acquire()")
    other = subprocess.run([sys.executable, "-c", code, str(home)], capture_output=True, text=True)
    assert other.returncode != 0 and "SchedulerBusy" in other.stderr  # another process too
    one.release()
    two.acquire()  # free again once the first let go
    two.release()


def test_start_and_stop_in_a_thread(home: Path, launcher: Any, add: Any) -> None:
    add(**MINUTELY)
    s = Scheduler(home, launcher=launcher).start()
    try:
        with pytest.raises(SchedulerBusy):
            Scheduler(home, launcher=launcher).acquire()
    finally:
        s.stop()
    again = Scheduler(home, launcher=launcher)
    again.acquire()  # released by stop()
    again.release()


def test_a_standby_scheduler_takes_over_when_the_first_stops(home: Path, launcher: Any,
                                                              add: Any, eventually: Any,
                                                              monkeypatch: Any) -> None:
    import nbflow.schedule.scheduler as module

    monkeypatch.setattr(module, "STANDBY_S", 0.05)
    first = Scheduler(home, launcher=launcher).start()
    standby = Scheduler(home, launcher=launcher).start(standby=True)
    try:
        assert first.active and not standby.active
        first.stop()
        assert eventually(lambda: standby.active, timeout_s=10, what="the standby to take over")
    finally:
        standby.stop()
        first.stop()
    assert not standby.active
