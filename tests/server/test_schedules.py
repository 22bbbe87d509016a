"""The schedules API of the server, and the scheduler it hosts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from nbflow.schedule.scheduler import Scheduler, SchedulerBusy

SCHEDULED = [
    "%%template a --outputs x --param scheduled_time=None\nx = scheduled_time",
    "%%workflow nightly --schedule '0 2 * * *'\na",
]


async def test_create_read_change_and_delete(call: Any, notebook: Any) -> None:
    notebook(SCHEDULED, name="sub/nightly.ipynb")
    body = {"notebook": "sub/nightly.ipynb", "schedules": ["0 2 * * *", "30 6 * * 1"],
            "timezone": "Europe/Paris", "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600, "successfulJobsHistoryLimit": 5,
            "notify": {"targets": ["email:ops@example.org"], "on": "always"}, "code": "snapshot"}
    status, created = await call("POST", "schedules", body=body)
    assert status == 201, created
    assert created["name"] == "nightly" and created["code"] == "snapshot"
    assert created["description"].endswith(", Europe/Paris")
    assert created["history"] == [5, 1] and created["concurrencyPolicy"] == "Forbid"
    assert (await call("POST", "schedules", body=body))[0] == 409  # exists already
    status, listed = await call("GET", "schedules")
    assert [s["name"] for s in listed["schedules"]] == ["nightly"]
    status, one = await call("GET", "schedules", "nightly")
    assert status == 200 and len(one["next"]) == 5
    assert one["cronWorkflow"]["kind"] == "CronWorkflow"
    assert one["cronWorkflow"]["spec"]["startingDeadlineSeconds"] == 600
    status, changed = await call("PATCH", "schedules", "nightly",
                                 body={"schedules": ["15 3 * * *"], "timezone": None})
    assert status == 200 and changed["schedules"] == ["15 3 * * *"]
    assert changed["timezone"] == "UTC" and changed["nextScheduledTime"].endswith("03:15:00Z")
    status, paused = await call("POST", "schedules", "nightly", "actions", "pause")
    assert status == 200 and paused["suspended"] and paused["nextScheduledTime"] is None
    status, resumed = await call("POST", "schedules", "nightly", "actions", "resume")
    assert status == 200 and not resumed["suspended"]
    assert await call("GET", "schedules", "nightly", "history") == (200, {"runs": []})
    assert (await call("DELETE", "schedules", "nightly"))[0] == 204
    status, missing = await call("GET", "schedules", "nightly")
    assert status == 404 and "no schedule 'nightly'" in missing["message"]


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"notebook": "nightly.ipynb", "schedules": ["every day"]}, 400, "expected 5 cron fields"),
    ({"notebook": "nightly.ipynb", "schedules": "0 2 * * *"}, 400, "must be a list"),
    ({"notebook": "nightly.ipynb", "schedules": ["@daily"],
      "notify": {"targets": ["webhook:https://x.example/y"]}}, 400, "URLs are kept out"),
    ({"notebook": "../out.ipynb", "schedules": ["@daily"]}, 403, "outside the server's root"),
    ({"notebook": "none.ipynb", "schedules": ["@daily"]}, 404, "no such notebook"),
])
async def test_bad_requests_are_one_line(call: Any, notebook: Any, body: dict[str, Any],
                                         status: int, message: str) -> None:
    notebook(SCHEDULED, name="nightly.ipynb")
    got, data = await call("POST", "schedules", body=body)
    assert got == status and message in data["message"]
    assert "\n" not in data["message"]
    assert (await call("POST", "schedules", "nope", "actions", "pause"))[0] == 404
    assert (await call("POST", "schedules", "nope", "actions", "explode"))[0] == 404


async def test_describe(call: Any) -> None:
    status, data = await call("GET", "schedules", "describe",
                              params={"cron": "0 2 * * *", "timezone": "Europe/Paris"})
    assert status == 200 and data["text"] == "every day at 02:00, Europe/Paris"
    assert len(data["next"]) == 5 and all(t.endswith(("00:00:00Z", "01:00:00Z"))
                                          for t in data["next"])
    status, data = await call("GET", "schedules", "describe", params={"timezone": "UTC"})
    assert status == 400 and "cron is required" in data["message"]


async def test_the_server_hosts_the_scheduler(call: Any, notebook: Any, nbflow_home: Path,
                                              until: Any) -> None:
    def busy() -> bool:
        other = Scheduler(nbflow_home)
        try:
            other.acquire()
        except SchedulerBusy as exc:
            assert f"(pid {os.getpid()})" in str(exc)
            return True
        other.release()
        return False

    assert await until(busy, "the server's scheduler to hold the home's lock")
    notebook(SCHEDULED, name="nightly.ipynb")
    status, _ = await call("POST", "schedules", body={"notebook": "nightly.ipynb",
                                                      "schedules": ["0 2 1 1 *"]})
    status, started = await call("POST", "schedules", "nightly", "actions", "run-now")
    assert status == 200 and started["run"].startswith("nightly-")

    async def ended() -> Any:
        _, data = await call("GET", "schedules", "nightly", "history")
        runs = data["runs"]
        return runs and runs[0]["phase"] in ("Succeeded", "Failed", "Error") and runs[0]

    run = await until(ended, "the run started now to end")
    assert run["run"] == started["run"] and run["phase"] == "Succeeded"
    _, outputs = await call("GET", "runs", run["run"], "tasks", "a", "outputs")
    assert outputs["outputs"]["x"]["preview"]["text"] == json.dumps(run["scheduledTime"])

    async def counted() -> Any:  # the hosted scheduler notices the end
        _, one = await call("GET", "schedules", "nightly")
        return one["succeeded"] == 1 and one["active"] == []

    assert await until(counted, "the scheduler to count the run")
