"""Fired runs in processes of their own, with real kernels: crash recovery, broken notebooks,
the code each run records."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.engine.store import RunStore
from nbflow.schedule import actions
from nbflow.schedule.scheduler import Scheduler
from nbflow.schedule.source import ScheduleOptions

pytestmark = pytest.mark.kernel

SLOW = ["%%template a --outputs x\nimport time\ntime.sleep(3)\nx = 1",
        "%%template b --inputs x --outputs y\ny = x + 1",
        "%%workflow slow\na >> b"]


def fire_now(home: Path, name: str) -> tuple[Scheduler, str]:
    scheduler = Scheduler(home)
    scheduler.step(datetime.now(timezone.utc))
    tick = datetime.now(timezone.utc).replace(microsecond=0)
    run = scheduler.fire(scheduler.records[name], tick, tick)
    assert run is not None
    return scheduler, run


def test_a_run_whose_process_died_goes_on(make_notebook: Any, nbflow_home: Path,
                                          eventually: Any) -> None:
    actions.add_schedule(make_notebook(SLOW), options=ScheduleOptions(schedules=("@daily",)))
    scheduler, run = fire_now(nbflow_home, "slow")
    runs = RunStore(nbflow_home / "runs")

    def step_running() -> bool:
        try:
            nodes = (runs.load(run)[0].get("status") or {}).get("nodes") or {}
        except Exception:  # not created yet
            return False
        return any(n["type"] == "Pod" and n["phase"] == "Running" for n in nodes.values())

    eventually(step_running, timeout_s=60, what="the run's first step to start")
    child = scheduler.launcher.children[run]  # type: ignore[attr-defined]
    os.killpg(child.pid, signal.SIGKILL)  # the run's process and its steps die mid-run
    child.wait()
    scheduler.step(datetime.now(timezone.utc))  # no process drives it: started again
    done = eventually(lambda: scheduler.launcher.state(run).done, timeout_s=120,
                      what="the run to end")
    assert done
    assert api.get_run(run).phase == "Succeeded"
    log = (nbflow_home / "schedules" / "logs" / f"{run}.log").read_text()
    assert "its previous process died; going on with it" in log
    scheduler.step(datetime.now(timezone.utc))
    assert actions.get_schedule("slow")["succeeded"] == 1
    assert [r["run"] for r in actions.schedule_history("slow")] == [run]
    scheduler.launcher.wait_all(60)  # type: ignore[attr-defined]
    scheduler.store.close()


def test_each_run_records_the_code_it_ran(make_notebook: Any, nbflow_home: Path,
                                          eventually: Any) -> None:
    import hashlib

    nb = make_notebook(["%%template a --outputs x\nx = 1", "%%workflow w\na"])
    actions.add_schedule(nb, options=ScheduleOptions(schedules=("@daily",), name="follows"))
    actions.add_schedule(nb, options=ScheduleOptions(schedules=("@daily",), name="frozen",
                                                     code="snapshot"))
    at_add = hashlib.sha256(nb.read_bytes()).hexdigest()
    text = nb.read_text().replace("x = 1", "x = 2")
    nb.write_text(text)  # edited after the schedules were made
    now_sha = hashlib.sha256(nb.read_bytes()).hexdigest()
    scheduler = Scheduler(nbflow_home)
    scheduler.step(datetime.now(timezone.utc))
    tick = datetime.now(timezone.utc).replace(microsecond=0)
    follow = scheduler.fire(scheduler.records["follows"], tick, tick)
    frozen = scheduler.fire(scheduler.records["frozen"], tick, tick)
    for run in (follow, frozen):
        eventually(lambda run=run: scheduler.launcher.state(run).done, timeout_s=120)
    settings = {r: json.loads((nbflow_home / "runs" / r / "run.json").read_text())
                for r in (follow, frozen)}
    assert settings[follow]["code"]["mode"] == "follow"
    assert settings[follow]["code"]["sha256"] == now_sha
    assert api.get_run(follow).outputs("a")["x"] == 2
    assert settings[frozen]["code"]["mode"] == "snapshot"
    assert settings[frozen]["code"]["sha256"] == at_add
    assert api.get_run(frozen).outputs("a")["x"] == 1
    for s in settings.values():
        assert s["code"]["notebook"] == str(nb.resolve())
        assert len(s["code"]["workflowSpecSha256"]) == 64
        assert s["schedule"] in ("follows", "frozen") and s["scheduledTime"].endswith("Z")
    scheduler.launcher.wait_all(60)  # type: ignore[attr-defined]
    scheduler.store.close()


def test_a_broken_notebook_ends_as_an_error_run(make_notebook: Any, nbflow_home: Path,
                                                eventually: Any, monkeypatch: Any) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[Any] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("NBFLOW_WEBHOOK_HOOK", f"http://127.0.0.1:{server.server_address[1]}/")
    nb = make_notebook(["%%template a --outputs x\nx = 1", "%%workflow w\na"])
    from nbflow.notify.spec import parse_notify

    actions.add_schedule(nb, options=ScheduleOptions(schedules=("@daily",),
                                                     notify=parse_notify(["webhook:hook"])))
    nb.write_text(nb.read_text().replace("%%workflow w", "%%workflow w --parallelism zero"))
    scheduler, run = fire_now(nbflow_home, "w")
    eventually(lambda: scheduler.launcher.state(run).done, timeout_s=60)
    wf, _ = RunStore(nbflow_home / "runs").load(run)
    assert wf["status"]["phase"] == "Error"
    assert "--parallelism" in wf["status"]["message"]
    scheduler.step(datetime.now(timezone.utc))
    assert actions.get_schedule("w")["failed"] == 1
    scheduler.launcher.wait_all(60)  # type: ignore[attr-defined]
    scheduler.store.close()
    server.shutdown()
    server.server_close()
    (body,) = bodies  # the schedule's targets hear that the tick could not start, and why
    assert (body["run"], body["phase"], body["schedule"]) == (run, "Error", "w")
    assert "--parallelism" in body["message"]


def test_history_limits_delete_a_run_with_its_artifacts(make_notebook: Any,
                                                        nbflow_home: Path) -> None:
    from nbflow.config import load_config
    from nbflow.notebook.extract import read_notebook
    from nbflow.schedule.launch import ProcessLauncher

    path = make_notebook(["%%template a --outputs x\nx = 1", "%%workflow one\na"])
    wf = read_notebook(path).workflow()
    old, kept = (api.run_workflow(wf, config=load_config(cache=False), workdir=path.parent)
                 for _ in range(2))
    artifacts = nbflow_home / "artifacts" / "one"
    assert (artifacts / old.id).is_dir() and (artifacts / kept.id).is_dir()
    ProcessLauncher(nbflow_home).delete(old.id)
    assert not (artifacts / old.id).exists()
    assert not (nbflow_home / "runs" / old.id).exists()
    assert (artifacts / kept.id).is_dir() and api.get_run(kept.id).phase == "Succeeded"
