"""A real ``nbflow scheduler`` process on the real clock: it fires an every-minute schedule once,
is SIGKILLed while the run goes on, and a new scheduler neither fires that tick again nor loses
the run. Waits for the next minute boundary (30 s on average, at most 60 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from nbflow.schedule import actions
from nbflow.schedule.source import ScheduleOptions

pytestmark = [pytest.mark.kernel, pytest.mark.realtime]


def scheduler(home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NBFLOW_HOME": str(home)}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "nbflow.cli", "scheduler", "-v"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)


def test_fires_once_survives_sigkill_and_never_fires_twice(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path, eventually: Any
) -> None:
    nb = make_notebook(["%%template a --outputs x --param scheduled_time=None\n"
                        "import time\ntime.sleep(4)\nx = scheduled_time",
                        "%%workflow every-minute\na"])
    actions.add_schedule(nb, options=ScheduleOptions(schedules=("* * * * *",)))
    log = tmp_path / "scheduler.log"
    first = scheduler(nbflow_home, log)
    try:
        history = eventually(lambda: actions.schedule_history("every-minute"), timeout_s=90,
                             what="the first tick")
        (fired,) = history
        tick = datetime.fromisoformat(fired["scheduledTime"].replace("Z", "+00:00"))
        assert fired["run"] == f"every-minute-{int(tick.timestamp())}"
        assert tick.second == 0 and (datetime.now(timezone.utc) - tick).total_seconds() < 30
        first.send_signal(signal.SIGKILL)  # while the run goes on (its step sleeps 4 s)
        first.wait()
        assert first.returncode == -signal.SIGKILL
        second = scheduler(nbflow_home, log)
        try:
            done = eventually(lambda: actions.get_schedule("every-minute")["succeeded"] == 1,
                              timeout_s=60, what="the run to end and be counted")
            assert done
            time.sleep(2)  # a few looks of the new scheduler
            now = datetime.now(timezone.utc)
            runs = [r["run"] for r in actions.schedule_history("every-minute")]
            if now.minute == tick.minute:  # still the first tick's minute: nothing else fired
                assert runs == [fired["run"]]
            assert runs[-1] == fired["run"]
            summary = actions.get_schedule("every-minute")
            assert summary["lastScheduledTime"] >= fired["scheduledTime"]
            from nbflow import api

            ran = api.get_run(fired["run"])
            assert ran.phase == "Succeeded"
            assert ran.outputs("a")["x"] == fired["scheduledTime"]  # {{workflow.scheduledTime}}
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0  # a clean shutdown
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    text = log.read_text()
    assert "another scheduler" not in text
    assert text.count(f"fired {fired['run']}") == 1  # one fire, by the first scheduler
    assert "fired already" not in text and "starting it again" not in text
    run_log = (nbflow_home / "schedules" / "logs" / f"{fired['run']}.log").read_text()
    assert "another process" not in run_log and "previous process died" not in run_log
