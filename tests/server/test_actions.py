"""Acting on runs through the server: stop, resume, retry, rerun and delete, for runs the server
drives and for runs of another process (``nbflow run``), which it reaches through the run store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DONE = ("Succeeded", "Failed", "Error")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """``nbflow run`` processes of a test, killed if the test leaves them running."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _nbflow_run(procs: list[subprocess.Popen[str]], source: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbflow.cli", "run", str(source), "-o", "json"],
        cwd=source.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    return proc


async def _phases(call: Any, run_id: str) -> tuple[str, dict[str, str]]:
    status, data = await call("GET", "runs", run_id, "graph")
    assert status == 200, data
    return data["info"]["phase"], {k: v["phase"] for k, v in data["nodes"].items()}


async def test_stop_then_resume_a_run_started_from_the_server(
    call: Any, notebook: Any, until: Any, jp_root_dir: Path
) -> None:
    notebook("gated")
    _, started = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    run_id = started["id"]
    await until(lambda: _is(call, run_id, "wait", "Running"), "the gated step to run")
    status, data = await call("DELETE", "runs", run_id)
    assert status == 409 and data == {"message": f"run {run_id} is still running: stop it first"}
    status, data = await call("POST", "runs", run_id, "actions", "stop")
    assert status == 200 and data["id"] == run_id
    await until(lambda: _ended(call, run_id), "the run to stop")
    phase, nodes = await _phases(call, run_id)
    assert phase == "Failed" and nodes == {"start": "Succeeded", "wait": "Failed"}
    _, details = await call("GET", "runs", run_id, "nodes", "wait")
    assert "Stopped with strategy 'Stop'" in details["message"]
    status, data = await call("POST", "runs", run_id, "actions", "stop")
    assert status == 409 and data == {"message": f"run {run_id} is not running (Failed)"}
    (jp_root_dir / "go.flag").write_text("go")
    status, data = await call("POST", "runs", run_id, "actions", "resume_run")
    assert status == 200 and data["id"] == run_id
    await until(lambda: _ended(call, run_id), "the resumed run to end")
    assert await _phases(call, run_id) == ("Succeeded", {"start": "Succeeded", "wait": "Succeeded"})


async def test_stop_a_run_of_another_process(
    call: Any, notebook: Any, until: Any, processes: list[Any]
) -> None:
    path = notebook("gated")
    proc = _nbflow_run(processes, path)
    listed = await until(lambda: _listed(call, {"workflow": "gated"}), "the run to be listed")
    run_id = listed[0]["id"]
    await until(lambda: _is(call, run_id, "wait", "Running"), "the gated step to run")
    _, one = await call("GET", "runs", run_id)
    assert one["summary"]["live"] is True
    status, data = await call("POST", "runs", run_id, "actions", "terminate")
    assert status == 200 and data["id"] == run_id
    await until(lambda: proc.poll() is not None, "nbflow run to exit")
    out, err = proc.communicate()
    assert proc.returncode == 1, err
    nodes = {n["displayName"]: n for n in json.loads(out)["status"]["nodes"].values()}
    assert "Stopped with strategy 'Terminate'" in nodes["wait"]["message"]
    await until(lambda: _ended(call, run_id), "the list to see the run end")
    summary = (await _listed(call, {"workflow": "gated"}))[0]
    assert summary["phase"] == "Failed" and summary["live"] is False


async def test_retry_a_failed_run(call: Any, notebook: Any, until: Any, jp_root_dir: Path) -> None:
    notebook("flaky")
    _, started = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    run_id = started["id"]
    await until(lambda: _ended(call, run_id), "the run to fail")
    assert await _phases(call, run_id) == ("Failed", {"check": "Failed", "after": "Omitted"})
    status, data = await call("POST", "runs", run_id, "actions", "resume")
    assert status == 409 and data == {"message": f"run {run_id} has no suspended node to resume"}
    (jp_root_dir / "ok.flag").write_text("fixed")
    status, data = await call("POST", "runs", run_id, "actions", "retry")
    assert status == 200 and data == {"id": run_id, "phase": "Running"}
    await until(lambda: _ended(call, run_id), "the retry to end")
    assert await _phases(call, run_id) == (
        "Succeeded",
        {"check": "Succeeded", "after": "Succeeded"},
    )
    _, logs = await call("GET", "runs", run_id, "nodes", "after", "logs")
    assert "after fixed" in logs["text"]
    status, data = await call("POST", "runs", run_id, "actions", "retry")
    assert status == 409 and data["message"] == (
        f"run {run_id} did not fail (Succeeded): nothing to retry"
    )


async def test_resume_a_suspended_node_of_another_process(
    call: Any, notebook: Any, until: Any, processes: list[Any], jp_root_dir: Path
) -> None:
    from nbflow import api
    from nbflow.notebook.extract import read_notebook

    path = notebook("chain")
    manifest = api.compile_workflow(read_notebook(path).workflow(), base_dir=path.parent)
    spec = manifest["spec"]
    spec["templates"].append({"name": "approve", "suspend": {}})
    tasks = spec["templates"][0]["dag"]["tasks"]
    tasks.insert(1, {"name": "approve", "template": "approve", "depends": "first"})
    tasks[2]["depends"] = "approve"
    source = jp_root_dir / "wf.json"
    source.write_text(json.dumps(manifest))
    proc = _nbflow_run(processes, source)
    listed = await until(lambda: _listed(call, {"workflow": "chain"}), "the run to be listed")
    run_id = listed[0]["id"]
    await until(lambda: _is(call, run_id, "approve", "Running"), "the suspend node")
    status, data = await call("POST", "runs", run_id, "actions", "resume", body={"nodes": ["nope"]})
    assert status == 400 and data == {
        "message": f"run {run_id} has no suspended node 'nope' (waiting: approve)"
    }
    status, data = await call(
        "POST", "runs", run_id, "actions", "resume", body={"nodes": ["approve"]}
    )
    assert status == 200 and data["id"] == run_id
    await until(lambda: proc.poll() is not None, "nbflow run to exit")
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    await until(lambda: _ended(call, run_id), "the list to see the run end")
    phase, nodes = await _phases(call, run_id)
    assert phase == "Succeeded" and set(nodes.values()) == {"Succeeded"}


async def test_rerun_from_a_task_with_the_notebooks_current_code(
    call: Any, notebook: Any, until: Any, pipelines: dict[str, list[str]]
) -> None:
    cells = pipelines["chain"]
    notebook(cells)
    _, started = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    run_id = started["id"]
    await until(lambda: _ended(call, run_id), "the run to end")
    status, data = await call("POST", "runs", run_id, "actions", "rerun")
    assert status == 400 and data == {"message": "rerun needs the task to rerun from"}
    status, data = await call("POST", "runs", run_id, "actions", "rerun", body={"task": "nope"})
    assert status == 400 and data["message"].startswith("workflow has no task 'nope'")
    notebook([c.replace("print(label)", "print('edited', label)") for c in cells])
    status, data = await call("POST", "runs", run_id, "actions", "rerun", body={"task": "second"})
    assert status == 200 and data == {"id": run_id, "phase": "Running"}
    await until(lambda: _ended(call, run_id), "the rerun to end")
    _, logs = await call("GET", "runs", run_id, "nodes", "third", "logs")
    assert "edited y=4.0" in logs["text"]


async def test_delete_a_run(call: Any, past_runs: dict[str, str], nbflow_home: Path) -> None:
    run_id = past_runs["fanout"]
    artifacts = nbflow_home / "artifacts" / "fanout" / run_id
    assert artifacts.is_dir()
    status, body = await call("DELETE", "runs", run_id)
    assert status == 204 and body == ""
    assert not (nbflow_home / "runs" / run_id).exists() and not artifacts.exists()
    assert (nbflow_home / "artifacts" / "chain" / past_runs["chain"]).is_dir()
    status, data = await call("GET", "runs", run_id)
    assert status == 404
    _, listed = await call("GET", "runs")
    assert {r["id"] for r in listed["runs"]} == {past_runs["chain"], past_runs["failing"]}
    status, data = await call("DELETE", "runs", run_id)
    assert status == 404


async def test_unknown_action(call: Any, past_runs: dict[str, str]) -> None:
    status, data = await call("POST", "runs", past_runs["chain"], "actions", "explode")
    assert status == 404
    assert data == {
        "message": "no action 'explode' (one of stop, terminate, retry, resume, resume_run, rerun)"
    }


async def _is(call: Any, run_id: str, node: str, phase: str) -> bool:
    status, data = await call("GET", "runs", run_id, "graph")
    return status == 200 and data["nodes"].get(node, {}).get("phase") == phase


async def _ended(call: Any, run_id: str) -> bool:
    status, data = await call("GET", "runs", run_id)
    return status == 200 and data["summary"]["phase"] in DONE and not data["summary"]["live"]


async def _listed(call: Any, params: dict[str, str]) -> list[dict[str, Any]]:
    _, data = await call("GET", "runs", params=params)
    return data["runs"]  # type: ignore[no-any-return]
