"""Pure tests of resume, retry, rerun and shutdown on the operator, with fake pod outcomes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from nbflow.engine.nodes import node_id
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodResult
from nbflow.engine.recovery import rerun_plan, resume_plan, retry_plan
from nbflow.errors import NbflowError
from nbflow.vocab import Phase

from .test_operator import T0, Driver, pod, task, workflow


def chain() -> dict[str, Any]:
    return workflow(
        [task("a"), task("b", depends="a"), task("c", depends="b")],
        [pod("t"), pod("bye")],
        onExit="bye",
    )


def names(op: Operator, phase: str) -> list[str]:
    return sorted(
        n["displayName"] for n in op.nodes.values() if n["phase"] == phase and n["type"] == "Pod"
    )


def test_resume_after_crash_reruns_only_unfinished_pods() -> None:
    wf = chain()
    op = Operator(wf)
    (a,) = op.reconcile(T0)
    op.pod_finished(a.node_id, PodResult(Phase.SUCCEEDED), T0)
    (b,) = op.reconcile(T0)  # b is running when the engine "crashes"
    assert op.nodes[b.node_id]["phase"] == "Running"
    forgotten = resume_plan(wf)
    assert forgotten == [b.node_id]
    d = Driver(wf)
    d.run()
    assert d.started == ["b", "c", "onExit"]  # a is not run again
    assert d.op.phase == "Succeeded"
    assert d.op.nodes[node_id("wf", "wf.a")]["children"] == [node_id("wf", "wf.b")]


def test_resume_refuses_a_finished_run() -> None:
    d = Driver(chain())
    d.run()
    with pytest.raises(NbflowError, match="already ended"):
        resume_plan(d.op.wf)


def test_stop_fails_running_and_pending_runs_exit_handler_then_resume_goes_on() -> None:
    wf = workflow(
        [task("a", withItems=[1, 2, 3]), task("b", depends="a")],
        [pod("t"), pod("bye")],
        onExit="bye",
    )
    op = Operator(wf, max_running=1)
    (first,) = op.reconcile(T0)
    op.spec["shutdown"] = "Stop"
    op.pod_finished(first.node_id, PodResult(Phase.FAILED, op.stop_message), T0)
    (exit_pod,) = op.reconcile(T0)
    assert exit_pod.name == "wf.onExit"  # Stop still runs the exit handler
    op.pod_finished(exit_pod.node_id, PodResult(Phase.SUCCEEDED), T0)
    op.reconcile(T0)
    assert op.phase == "Failed" and op.status["message"] == "Stopped with strategy 'Stop'"
    assert names(op, "Running") == [] and "b" not in names(op, "Succeeded")
    resume_plan(wf)
    assert "shutdown" not in wf["spec"] and wf["status"]["phase"] == "Running"
    d = Driver(wf)
    d.run()
    assert d.op.phase == "Succeeded"
    assert d.started == ["a(0:1)", "a(1:2)", "a(2:3)", "b", "onExit"]


def test_terminate_skips_the_exit_handler() -> None:
    wf = chain()
    op = Operator(wf)
    (a,) = op.reconcile(T0)
    op.spec["shutdown"] = "Terminate"
    op.pod_finished(a.node_id, PodResult(Phase.FAILED, "Stopped with strategy 'Terminate'"), T0)
    assert op.reconcile(T0) == []
    assert op.phase == "Failed" and op.node("wf.onExit") is None


def test_retry_reruns_failed_pods_and_omitted_dependents() -> None:
    d = Driver(
        workflow([task("a", withItems=[1, 2, 3]), task("b", depends="a")]), {"a(1:2)": ["Failed"]}
    )
    d.run()
    assert d.op.phase == "Failed"
    retry_plan(d.op.wf)
    again = Driver(d.op.wf)
    again.run()
    assert again.started == ["a(1:2)", "b"]
    assert again.op.phase == "Succeeded"
    group = again.op.nodes[node_id("wf", "wf.a")]
    assert [again.op.nodes[k]["displayName"] for k in group["children"]] == [
        "a(0:1)",
        "a(1:2)",
        "a(2:3)",
    ]


def test_retry_restarts_a_failed_retry_node_with_its_budget() -> None:
    wf = workflow([task("a")], [pod("t", retryStrategy={"limit": "1"})])
    d = Driver(wf, {"a": ["Failed", "Failed"]})
    d.run()
    assert len(d.node("wf.a")["children"]) == 2
    retry_plan(wf)
    again = Driver(wf, {"a": ["Failed", "Succeeded"]})
    again.run()
    assert again.started == ["a(0)", "a(1)"] and again.op.phase == "Succeeded"


def test_retry_refuses_a_succeeded_run() -> None:
    d = Driver(chain())
    d.run()
    with pytest.raises(NbflowError, match="only a Failed or Error run"):
        retry_plan(d.op.wf)


def test_rerun_plan_forgets_the_given_tasks_only() -> None:
    d = Driver(chain())
    d.run()
    rerun_plan(d.op.wf, ["b", "c"])
    again = Driver(d.op.wf)
    again.now = d.now + timedelta(seconds=5)
    again.run()
    assert again.started == ["b", "c", "onExit"]
