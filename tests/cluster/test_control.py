"""Retry and resume as edits of the Workflow object, checked by running the result."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.cluster.client import ArgoClient
from nbflow.cluster.control import pod_name, resume_status, retry_status
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodResult
from nbflow.errors import NbflowError
from nbflow.vocab import Phase

GOLDEN = Path(__file__).parents[1] / "argo" / "golden"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def golden(name: str) -> dict[str, Any]:
    wf = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
    wf["metadata"] = {"name": "wf"}
    return wf


def drive(wf: dict[str, Any], fail: dict[str, int]) -> list[str]:
    """Run ``wf`` (continuing its status) with the operator; ``fail`` counts failures per pod
    display name prefix. Returns the display names of the pods started."""
    op = Operator(wf)
    now = T0 + timedelta(hours=len(wf.get("status", {}).get("nodes", {})))
    started = []
    for _ in range(200):
        reqs = op.reconcile(now)
        if op.done:
            return started
        now += timedelta(minutes=30)
        for req in reqs:
            display = op.nodes[req.node_id]["displayName"]
            started.append(display)
            key = next((k for k in fail if display.startswith(k)), None)
            phase = Phase.SUCCEEDED
            if key is not None and fail[key] > 0:
                fail[key] -= 1
                phase = Phase.FAILED
            outs = req.template.get("outputs", {})
            arts = [{"name": a["name"], "path": a["path"], "s3": a["s3"]}
                    for a in outs.get("artifacts", [])]
            params = [{"name": p["name"], "value": "0.5"} for p in outs.get("parameters", [])]
            op.pod_finished(req.node_id, PodResult(phase, "on purpose" if phase != "Succeeded"
                                                   else None, {"artifacts": arts,
                                                               "parameters": params}), now)
    raise AssertionError("did not finish")


def test_retry_reruns_failed_and_omitted_steps_only() -> None:
    wf = golden("failing")
    assert drive(wf, {"boom": 1}) == ["boom"]
    assert wf["status"]["phase"] == "Failed"
    retried, pods = retry_status(wf)
    assert pods == [pod_name(wf, n) for n in wf["status"]["nodes"].values()
                    if n["displayName"] == "boom"]
    assert retried["status"]["phase"] == "Running"
    assert "finishedAt" not in retried["status"] and "message" not in retried["status"]
    assert retried["metadata"]["labels"]["workflows.argoproj.io/completed"] == "false"
    names = {n["displayName"]: n["phase"] for n in retried["status"]["nodes"].values()}
    assert names == {"wf": "Running"}  # boom (Failed) and after (Omitted) are gone
    assert wf["status"]["phase"] == "Failed"  # the input is not modified
    assert drive(retried, {}) == ["boom", "after"]
    assert retried["status"]["phase"] == "Succeeded"


def test_retry_keeps_succeeded_steps_and_reruns_one_failed_item() -> None:
    wf = golden("fanout")
    drive(wf, {"featurize(3": 1})
    assert wf["status"]["phase"] == "Failed"
    retried, pods = retry_status(wf)
    assert len(pods) == 1 and pods[0].startswith("wf-featurize-")
    assert drive(retried, {}) == ["featurize(3:_i:3,shard:3)", "train"]
    assert retried["status"]["phase"] == "Succeeded"
    group = next(n for n in retried["status"]["nodes"].values() if n["type"] == "TaskGroup")
    assert len(group["children"]) == 8 and group["phase"] == "Succeeded"


def test_retry_gives_a_failed_retry_node_fresh_attempts_and_reruns_the_exit_handler() -> None:
    wf = golden("options")
    first = drive(wf, {"flaky": 9})
    assert first.count("flaky(0)") == 1 and "flaky(3)" in first and first[-1] == "notify"
    retried, pods = retry_status(wf)
    assert len(pods) == 4 + 1  # four attempts, and the exit handler's pod
    assert drive(retried, {}) == ["flaky(0)", "score", "fallback", "notify"]
    assert retried["status"]["phase"] == "Succeeded"


def test_failed_attempts_of_a_succeeded_retry_are_history() -> None:
    wf = golden("options")
    drive(wf, {"flaky": 1, "score": 1})  # flaky succeeds on its second attempt, score fails
    retried, pods = retry_status(wf)
    assert len(pods) == 2  # score, and the exit handler
    attempts = [n for n in retried["status"]["nodes"].values() if n["displayName"] == "flaky(0)"]
    assert attempts and attempts[0]["phase"] == "Failed"
    assert drive(retried, {}) == ["score", "fallback", "notify"]


@pytest.mark.parametrize("phase", ["Succeeded", "Running", None])
def test_only_finished_failed_workflows_can_be_retried(phase: str | None) -> None:
    wf = golden("chain")
    if phase:
        wf["status"] = {"phase": phase, "nodes": {}}
    with pytest.raises(NbflowError, match="only a Failed or Error workflow can be retried"):
        retry_status(wf)


def test_resume() -> None:
    wf = golden("chain")
    wf["spec"]["suspend"] = True
    resumed, names = resume_status(wf, T0)
    assert "suspend" not in resumed["spec"] and names == ["wf"]
    wf = golden("chain")
    wf["status"] = {"phase": "Running", "nodes": {
        "wf-1": {"id": "wf-1", "name": "wf.approve", "displayName": "approve",
                 "type": "Suspend", "phase": "Running"},
        "wf-3": {"id": "wf-3", "name": "wf.later", "displayName": "later",
                 "type": "Suspend", "phase": "Running"},
        "wf-2": {"id": "wf-2", "name": "wf.first", "displayName": "first",
                 "type": "Pod", "phase": "Running"}}}
    resumed, names = resume_status(wf, T0, ["approve"])
    nodes = resumed["status"]["nodes"]
    assert names == ["approve"]
    assert nodes["wf-1"]["phase"] == "Succeeded" and nodes["wf-1"]["finishedAt"]
    assert nodes["wf-3"]["phase"] == "Running" and nodes["wf-2"]["phase"] == "Running"
    assert resume_status(wf, T0)[1] == ["approve", "later"]
    with pytest.raises(NbflowError, match="is not suspended at first"):
        resume_status(wf, T0, ["first"])
    with pytest.raises(NbflowError, match="is not suspended"):
        resume_status(golden("chain"), T0)


def test_retry_and_resume_through_the_api(client: ArgoClient, kube: Any, argo: Any,
                                          eventually: Any) -> None:
    argo.outcomes = {"second": ["Failed"]}
    name = client.create(golden("chain") | {"metadata": {"generateName": "chain-"}})[
        "metadata"]["name"]
    eventually(lambda: client.get(name).get("status", {}).get("phase") == "Failed",
               what="the run to fail")
    failed_pod = next(p for (_, p) in kube.state.pods if "-second-" in p)
    client.retry(name)
    assert kube.state.deleted_pods == [failed_pod]
    eventually(lambda: client.get(name).get("status", {}).get("phase") == "Succeeded",
               what="the retried run to succeed")
    kinds = [m for m, p, _ in kube.state.requests if p.endswith(f"/workflows/{name}")]
    assert "PUT" in kinds  # a whole-object update, guarded by its resourceVersion
    # resume: a suspended workflow (no controller involved)
    argo.close()
    suspended = client.create({**golden("chain"), "metadata": {"name": "paused"},
                               "spec": {**golden("chain")["spec"], "suspend": True}})
    assert suspended["spec"]["suspend"] is True
    obj, names = client.resume("paused")
    assert "suspend" not in obj["spec"] and names == ["paused"]
    with pytest.raises(NbflowError, match="not suspended"):
        client.resume("paused")


def suspended_workflow() -> dict[str, Any]:
    wf = golden("chain")
    main = wf["spec"]["templates"][0]["dag"]["tasks"]
    main.insert(1, {"name": "approve", "template": "approve", "depends": "first"})
    main[2]["depends"] = "approve"
    wf["spec"]["templates"].append({"name": "approve", "suspend": {}})
    return wf


def test_resumed_workflow_goes_on_with_the_operator() -> None:
    wf = suspended_workflow()
    op = Operator(wf)
    now = T0
    for _ in range(5):
        for req in op.reconcile(now):
            outs = req.template["outputs"]["artifacts"]
            arts = [{"name": a["name"], "path": a["path"], "s3": a["s3"]} for a in outs]
            op.pod_finished(req.node_id, PodResult(Phase.SUCCEEDED, None, {"artifacts": arts}),
                            now)
    assert [n["displayName"] for n in op.suspended()] == ["approve"]
    resumed, names = resume_status(wf, T0, ["approve"])
    assert names == ["approve"] and wf["status"]["phase"] == "Running"
    assert drive(resumed, {}) == ["second", "third"]
    assert resumed["status"]["phase"] == "Succeeded"


def test_resume_a_suspended_run_on_the_cluster(
    make_notebook: Any, cluster_home: Path, argo: Any, eventually: Any
) -> None:
    from nbflow.cluster.submit import submit_workflow

    run = submit_workflow(suspended_workflow() | {"metadata": {"generateName": "chain-"}})
    eventually(lambda: run.tasks().get("approve") == "Running", what="the suspend step")
    assert run.tasks()["first"] == "Succeeded" and "second" not in run.tasks()
    assert run.resume(["approve"]) == ["approve"]
    run.wait(30)
    assert run.phase == "Succeeded" and run.tasks()["third"] == "Succeeded"
