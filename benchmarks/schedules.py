"""The local scheduler with 1,000 schedules: idle CPU, and how late ticks fire.

    python benchmarks/schedules.py              # idle 30 s; two minute boundaries of fires
    python benchmarks/schedules.py --idle-s 60

Idle CPU: a real ``nbflow scheduler`` process on a home of 1,000 schedules none of which is due,
measured from ``/proc/PID/task/*/schedstat`` (CPU time in ns) over the window; the baseline,
measured in the same run the same way, is a Python process that only wakes once a second (the
least a process polling once a second can cost). Target: under 1% of one core.

Fire latency: the scheduler in this process, on the real clock, with a launcher that records
the moment it is asked to start each run (the run itself is not started: starting a process is
not the scheduler's latency), for two loads at a minute boundary: 20 of the 1,000 schedules
due at once, then all 1,000 due at once. Latency = that moment minus the scheduled time.
Target: within 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbflow.schedule.policy import rfc3339  # noqa: E402
from nbflow.schedule.scheduler import RunState, Scheduler  # noqa: E402
from nbflow.schedule.store import ScheduleRecord, ScheduleStore  # noqa: E402

COUNT = 1000
BASELINE = "import threading, sys\ne = threading.Event()\nwhile True:\n    e.wait(1.0)\n"


def make_home(home: Path, due_every_minute: int) -> None:
    """1,000 schedules; ``due_every_minute`` of them fire every minute, the others yearly."""
    store = ScheduleStore(home)
    anchor = rfc3339(datetime.now(timezone.utc))
    for i in range(COUNT):
        cron = "* * * * *" if i < due_every_minute else f"{i % 60} {i % 24} 1 1 *"
        obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
               "metadata": {"name": f"s{i:04d}"},
               "spec": {"schedules": [cron], "timezone": "Europe/Paris",
                        "workflowSpec": {"entrypoint": "main", "templates": [{"name": "main"}]}}}
        store.put(ScheduleRecord(obj, {"code": "snapshot"}, anchor, {}))
    store.close()


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` (``schedstat``: nanoseconds, unlike ``stat``)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def idle_cpu(argv: list[str], env: dict[str, str], seconds: float) -> float:
    """Percent of one core a process uses over ``seconds`` (after a 3 s start-up)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(3.0)
        if proc.poll() is not None:
            raise SystemExit(f"{argv} ended: {proc.stderr.read().decode() if proc.stderr else ''}")
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        return 100 * (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
    finally:
        proc.terminate()
        proc.wait()


class Recorder:
    """A launcher that notes when each run is asked to start; every run ends at once."""

    def __init__(self) -> None:
        self.latency_s: list[float] = []

    def start(self, run: str) -> None:
        scheduled = int(run.rsplit("-", 1)[1])
        self.latency_s.append(time.time() - scheduled)

    def state(self, run: str) -> RunState:
        return RunState(False, "Succeeded", rfc3339(datetime.now(timezone.utc)))

    def terminate(self, run: str) -> None:
        pass

    def delete(self, run: str) -> None:
        pass


def fire_latency(home: Path, due: int) -> list[float]:
    """Latencies of the fires at the next minute boundary, ``due`` schedules due."""
    make_home(home, due)
    recorder = Recorder()
    scheduler = Scheduler(home, launcher=recorder)  # type: ignore[arg-type]
    scheduler.start()
    try:
        now = time.time()
        boundary = (int(now) // 60 + 1) * 60
        deadline = boundary + 30
        while len(recorder.latency_s) < due and time.time() < deadline:
            time.sleep(0.2)
    finally:
        scheduler.stop()
    return recorder.latency_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--idle-s", type=float, default=30.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="nbflow-bench-") as tmp:
        home = Path(tmp) / "idle"
        make_home(home, 0)
        env = {**os.environ, "NBFLOW_HOME": str(home)}
        base = idle_cpu([sys.executable, "-c", BASELINE], env, args.idle_s)
        sched = idle_cpu([sys.executable, "-m", "nbflow.cli", "scheduler"], env, args.idle_s)
        print(f"idle CPU, {COUNT} schedules, {args.idle_s:.0f} s: scheduler {sched:.3f}% of one "
              f"core (target < 1%), baseline (a process waking once a second) {base:.4f}%, "
              f"ratio {sched / base:.0f}x")
        for due in (20, COUNT):
            lat = sorted(fire_latency(Path(tmp) / f"fire-{due}", due))
            if len(lat) < due:
                print(f"fire latency, {due} due at once: only {len(lat)} of {due} fired")
                continue
            p95 = lat[int(0.95 * (len(lat) - 1))]
            print(f"fire latency, {due} of {COUNT} due at once: median "
                  f"{statistics.median(lat):.3f} s, p95 {p95:.3f} s, max {lat[-1]:.3f} s "
                  f"(target within 1 s)")


if __name__ == "__main__":
    main()
