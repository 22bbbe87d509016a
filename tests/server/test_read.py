"""Reading runs through the REST API: the list, one run, its graph, nodes, logs, notebooks and
outputs, on records of real runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from nbflow.engine.store import RunStore


async def test_list_newest_first_with_summaries(call: Any, past_runs: dict[str, str]) -> None:
    status, data = await call("GET", "runs")
    assert status == 200
    assert data["total"] == 3
    assert [r["workflow"] for r in data["runs"]] == ["fanout", "failing", "chain"]
    fanout, failing, chain = data["runs"]
    assert fanout["progress"] == "3/3" and fanout["phase"] == "Succeeded"
    assert failing["phase"] == "Failed" and failing["progress"] == "2/2"
    assert chain == {
        "id": past_runs["chain"],
        "workflow": "chain",
        "phase": "Succeeded",
        "message": "",
        "startedAt": chain["startedAt"],
        "finishedAt": chain["finishedAt"],
        "duration_s": chain["duration_s"],
        "notebook": chain["notebook"],
        "backend": "local",
        "progress": "3/3",
        "live": False,
    }
    assert chain["notebook"].endswith("/chain/chain.ipynb")  # outside the root: absolute
    assert chain["duration_s"] >= 0 and chain["startedAt"] <= chain["finishedAt"]


async def test_list_filters_and_pages(call: Any, past_runs: dict[str, str]) -> None:
    _, data = await call("GET", "runs", params={"phase": "Failed"})
    assert [r["id"] for r in data["runs"]] == [past_runs["failing"]] and data["total"] == 1
    _, data = await call("GET", "runs", params={"phase": "Failed,Succeeded", "workflow": "chain"})
    assert [r["id"] for r in data["runs"]] == [past_runs["chain"]]
    _, data = await call("GET", "runs", params={"workflow": "nope"})
    assert data == {"runs": [], "total": 0}
    _, chain = await call("GET", "runs", params={"workflow": "chain"})
    path = chain["runs"][0]["notebook"]
    _, data = await call("GET", "runs", params={"notebook": path})
    assert [r["id"] for r in data["runs"]] == [past_runs["chain"]]
    _, page = await call("GET", "runs", params={"limit": 2, "offset": 1})
    assert [r["workflow"] for r in page["runs"]] == ["failing", "chain"] and page["total"] == 3
    _, page = await call("GET", "runs", params={"limit": 2, "offset": 3})
    assert page == {"runs": [], "total": 3}


async def test_list_rejects_bad_paging(call: Any, past_runs: dict[str, str]) -> None:
    status, data = await call("GET", "runs", params={"limit": "ten"})
    assert status == 400 and data == {"message": "limit must be a whole number, not 'ten'"}
    status, data = await call("GET", "runs", params={"limit": 0})
    assert status == 400 and "limit must be between 1 and 500" in data["message"]
    status, data = await call("GET", "runs", params={"offset": -1})
    assert status == 400 and data["message"] == "offset must be at least 0, not -1"


async def test_list_sees_runs_appear_change_and_go(
    call: Any, past_runs: dict[str, str], nbflow_home: Path, until: Any
) -> None:
    async def listed(**params: str) -> set[tuple[str, str, bool]]:
        _, data = await call("GET", "runs", params=params)
        return {(r["id"], r["phase"], r["live"]) for r in data["runs"]}

    assert len(await listed()) == 3
    runs = nbflow_home / "runs"
    copy = runs / "chain-copy1"
    shutil.copytree(runs / past_runs["chain"], copy)
    wf = json.loads((copy / "workflow.json").read_text())
    wf["metadata"]["name"] = "chain-copy1"
    wf["status"]["phase"] = "Running"
    RunStore(runs).save(wf)
    expected = {
        (past_runs["chain"], "Succeeded", False),
        ("chain-copy1", "Running", False),  # no engine holds its lock: it crashed
    }
    await until(lambda: _equal(listed(workflow="chain"), expected), "the new run")
    wf["status"]["phase"] = "Failed"
    RunStore(runs).save(wf)
    failed = {("chain-copy1", "Failed", False)}
    await until(lambda: _equal(listed(phase="Failed", workflow="chain"), failed), "the change")
    shutil.rmtree(copy)
    gone = {(past_runs["chain"], "Succeeded", False)}
    await until(lambda: _equal(listed(workflow="chain"), gone), "the run to go")


async def _equal(value: Any, expected: Any) -> bool:
    return await value == expected


async def test_one_run_has_its_summary_and_workflow(call: Any, past_runs: dict[str, str]) -> None:
    status, data = await call("GET", "runs", past_runs["failing"])
    assert status == 200
    assert data["summary"]["id"] == past_runs["failing"] and data["summary"]["phase"] == "Failed"
    wf = data["workflow"]
    assert wf["metadata"]["name"] == past_runs["failing"] and wf["kind"] == "Workflow"
    phases = {n["displayName"]: n["phase"] for n in wf["status"]["nodes"].values()}
    assert phases["boom"] == "Failed" and phases["after"] == "Omitted"


async def test_unknown_run_node_and_task_are_404(call: Any, past_runs: dict[str, str]) -> None:
    status, data = await call("GET", "runs", "nope-12345")
    assert status == 404 and data["message"].startswith("no run 'nope-12345'")
    run = past_runs["chain"]
    status, data = await call("GET", "runs", run, "nodes", "nope")
    assert status == 404 and data == {"message": f"run {run} has no node 'nope'"}
    status, data = await call("GET", "runs", run, "nodes", "first", params={"node": "x-1"})
    assert status == 404 and data == {"message": f"run {run} has no status node 'x-1'"}
    status, data = await call("GET", "runs", run, "tasks", "nope", "outputs")
    assert status == 404
    status, data = await call(
        "GET", "runs", run, "nodes", "first", "notebook", params={"format": "pdf"}
    )
    assert status == 400 and data == {"message": "format must be json or html, not 'pdf'"}


async def test_graph_is_the_widgets_state(call: Any, past_runs: dict[str, str]) -> None:
    from nbflow.api import get_run
    from nbflow.widget.layout import dot_source
    from nbflow.widget.state import graph_shape, run_info, task_states

    run_id = past_runs["fanout"]
    status, data = await call("GET", "runs", run_id, "graph")
    assert status == 200
    wf = get_run(run_id).workflow
    shape = graph_shape(wf)
    assert data["graph"] == shape.to_json()
    assert data["nodes"] == json.loads(json.dumps(task_states(wf, shape)))
    assert data["info"] == json.loads(json.dumps(run_info(wf)))
    assert data["dot"] == dot_source(shape)
    assert data["nodes"]["featurize"]["counts"] == {"Succeeded": 8}
    assert set(data["positions"]["nodes"]) == {"extract", "featurize", "train"}  # dot exists here
    assert data["phases"]["Failed"]["label"] == "failed"
    # what the local engine can do with it; the view narrows it by the run's state
    assert data["can"] == ["rerun", "resume", "resume_run", "retry", "stop"]


async def test_node_details_of_a_failed_task_and_a_mapped_item(
    call: Any, past_runs: dict[str, str]
) -> None:
    status, data = await call("GET", "runs", past_runs["failing"], "nodes", "boom")
    assert status == 200
    assert data["phase"] == "Failed" and data["kind"] == "pod"
    assert data["error"]["ename"] == "ZeroDivisionError" and "1 / 0" in data["error"]["source"]
    run = past_runs["fanout"]
    _, group = await call("GET", "runs", run, "nodes", "featurize")
    assert group["kind"] == "group" and group["items_total"] == 8
    item = group["items"][3]
    assert item["label"] == "3: shard=3"
    _, one = await call("GET", "runs", run, "nodes", "featurize", params={"node": item["id"]})
    assert one["node"] == item["id"] and one["phase"] == "Succeeded"
    assert [p["value"] for p in one["parameters"] if p["name"] == "shard"] == ["3"]


async def test_logs_of_every_attempt_and_their_tail(call: Any, past_runs: dict[str, str]) -> None:
    run = past_runs["chain"]
    status, data = await call("GET", "runs", run, "nodes", "third", "logs")
    assert status == 200
    assert data["text"].startswith("==> third (Succeeded) <==") and "y=4.0" in data["text"]
    _, tail = await call("GET", "runs", run, "nodes", "third", "logs", params={"tail": 1})
    assert tail["text"] == data["text"].splitlines()[-1]
    _, none = await call("GET", "runs", run, "nodes", "third", "logs", params={"tail": 0})
    assert none == {"text": ""}


async def test_executed_notebook_as_json_and_html(call: Any, past_runs: dict[str, str]) -> None:
    run = past_runs["failing"]
    status, nb = await call("GET", "runs", run, "nodes", "boom", "notebook")
    assert status == 200 and nb["nbformat"] == 4
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "ZeroDivisionError"
    status, html = await call(
        "GET", "runs", run, "nodes", "boom", "notebook", params={"format": "html"}
    )
    assert status == 200 and html.startswith("<!doctype html>") and "ZeroDivisionError" in html
    status, data = await call("GET", "runs", run, "nodes", "after", "notebook")
    assert status == 404 and "has no executed notebook" in data["message"]


async def test_outputs_with_previews(call: Any, past_runs: dict[str, str]) -> None:
    run = past_runs["chain"]
    status, data = await call("GET", "runs", run, "tasks", "second", "outputs")
    assert status == 200
    y = data["outputs"]["y"]
    assert y["kind"] == "json" and y["preview"] == {"kind": "text", "text": "4.0"}
    assert y["size"] > 0
    run = past_runs["fanout"]
    _, group = await call("GET", "runs", run, "tasks", "featurize", "outputs")
    assert group["outputs"] == {} and group["items_total"] == 8
    item = group["items"][2]["id"]
    _, one = await call("GET", "runs", run, "tasks", "featurize", "outputs", params={"node": item})
    assert json.loads(one["outputs"]["feats"]["preview"]["text"]) == {"shard": 2, "value": 4}
