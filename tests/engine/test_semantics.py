"""More Argo semantics on the pure operator: deadlines, suspend, template parallelism, retries."""

from __future__ import annotations

from datetime import timedelta

from nbflow.engine.nodes import node_id
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodResult
from nbflow.vocab import Phase

from .test_operator import RUNNER, T0, Driver, pod, task, workflow


def test_workflow_deadline_fails_running_and_pending_but_runs_exit_handler() -> None:
    wf = workflow(
        [task("a", withItems=[1, 2, 3])],
        [pod("t"), pod("bye")],
        onExit="bye",
        activeDeadlineSeconds=10,
    )
    op = Operator(wf, max_running=1)
    (first,) = op.reconcile(T0)
    assert op.wakeup == T0 + timedelta(seconds=10)
    later = T0 + timedelta(seconds=11)
    assert op.reconcile(later) == []  # nothing new starts past the deadline
    assert op.halted(first.name)
    op.pod_finished(first.node_id, PodResult(Phase.FAILED, op.stop_message), later)
    (exit_pod,) = op.reconcile(later)
    assert exit_pod.name == "wf.onExit"  # exit handlers ignore the workflow deadline
    op.pod_finished(exit_pod.node_id, PodResult(Phase.SUCCEEDED), later)
    op.reconcile(later)
    messages = {n["displayName"]: n.get("message") for n in op.nodes.values() if n["type"] == "Pod"}
    assert messages["a(0:1)"] == "Step exceeded its deadline"
    assert messages["a(1:2)"] == "Step exceeded its deadline"  # was Pending
    assert op.phase == "Failed" and op.status["message"] == "Step exceeded its deadline"


def test_suspend_waits_for_resume_then_succeeds() -> None:
    wf = workflow(
        [task("gate", template="wait"), task("b", depends="gate")],
        [pod("t"), {"name": "wait", "suspend": {}}],
    )
    op = Operator(wf)
    assert op.reconcile(T0) == []
    gate = op.nodes[node_id("wf", "wf.gate")]
    assert (gate["type"], gate["phase"]) == ("Suspend", "Running")
    assert [n["displayName"] for n in op.suspended()] == ["gate"]
    assert op.reconcile(T0 + timedelta(hours=1)) == []  # still waiting
    assert op.resume_nodes(["nope"]) == []
    assert op.resume_nodes(["gate"]) == ["gate"]
    (b,) = op.reconcile(T0)
    assert b.name == "wf.b"


def test_suspend_with_duration_resumes_itself() -> None:
    wf = workflow(
        [task("gate", template="wait")], [{"name": "wait", "suspend": {"duration": "30s"}}]
    )
    op = Operator(wf)
    op.reconcile(T0)
    assert op.wakeup == T0 + timedelta(seconds=30)
    op.reconcile(T0 + timedelta(seconds=30))
    assert op.phase == "Succeeded"


def test_template_parallelism_caps_direct_children() -> None:
    wf = workflow([task("a", withItems=list(range(5))), task("b"), task("c")])
    wf["spec"]["templates"][0]["parallelism"] = 2
    d = Driver(wf)
    d.run()
    assert d.max_seen == 2 and len(d.started) == 7 and d.op.phase == "Succeeded"


def test_retry_expression_sees_last_retry() -> None:
    tmpl = pod("t", retryStrategy={"limit": "5", "expression": "asInt(lastRetry.exitCode) == 2"})
    op = Operator(workflow([task("a")], [tmpl]))
    (req,) = op.reconcile(T0)
    op.pod_finished(req.node_id, PodResult(Phase.FAILED, "x", {"exitCode": "2"}), T0)
    (again,) = op.reconcile(T0)  # exit code 2: retried (the default policy becomes Always)
    op.pod_finished(again.node_id, PodResult(Phase.FAILED, "y", {"exitCode": "1"}), T0)
    assert op.reconcile(T0) == []
    a = op.nodes[node_id("wf", "wf.a")]
    assert (a["phase"], a["message"]) == ("Failed", "retryStrategy.expression evaluated to false")


def test_on_transient_error_retries_a_dead_kernel_by_its_typed_end() -> None:
    tmpl = pod("t", retryStrategy={"limit": "3", "retryPolicy": "OnTransientError"})
    op = Operator(workflow([task("a")], [tmpl]))
    (req,) = op.reconcile(T0)
    # the runner's exit code says the kernel died, whatever the message's wording
    died = PodResult(Phase.ERROR, "the process went away", {"exitCode": "3"})
    op.pod_finished(req.node_id, died, T0)
    (again,) = op.reconcile(T0)
    # a message that merely mentions a dead kernel, from a cell that failed, is no such end
    failed = PodResult(Phase.FAILED, "RuntimeError: kernel died (cell 2)", {"exitCode": "1"})
    op.pod_finished(again.node_id, failed, T0)
    assert op.reconcile(T0) == []
    assert op.nodes[node_id("wf", "wf.a")]["phase"] == "Failed"
    assert len(op.nodes[node_id("wf", "wf.a")]["children"]) == 2


def test_on_transient_error_follows_argo_messages_for_other_pods() -> None:
    shell = {"image": "alpine", "command": ["sh", "-c", "exit 3"]}
    retry = {"limit": "3", "retryPolicy": "OnTransientError"}
    tmpl = pod("t", container=shell, retryStrategy=retry)
    op = Operator(workflow([task("a")], [tmpl]))
    (req,) = op.reconcile(T0)
    op.pod_finished(req.node_id, PodResult(Phase.ERROR, "pod deleted", {"exitCode": "3"}), T0)
    (again,) = op.reconcile(T0)  # Argo's pattern: retried
    exited = PodResult(Phase.FAILED, "Error (exit code 3)", {"exitCode": "3"})
    op.pod_finished(again.node_id, exited, T0)
    assert op.reconcile(T0) == []  # exit code 3 means nothing special outside nbflow's runner
    assert len(op.nodes[node_id("wf", "wf.a")]["children"]) == 2


def test_container_template_args_see_retries_number() -> None:
    tmpl = pod("t", retryStrategy={"limit": "2"}, container={**RUNNER, "args": ["{{retries}}"]})
    op = Operator(workflow([task("a")], [tmpl]))
    (first,) = op.reconcile(T0)
    op.pod_finished(first.node_id, PodResult(Phase.FAILED, "x"), T0)
    (second,) = op.reconcile(T0)
    assert first.template["container"]["args"] == ["0"]
    assert second.template["container"]["args"] == ["1"]


def steps_workflow(groups: list[list[dict[str, object]]], **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {
            "entrypoint": "main",
            **spec,
            "templates": [{"name": "main", "steps": groups}, pod("t")],
        },
    }


def test_steps_run_groups_in_order_with_argo_names_and_edges() -> None:
    d = Driver(
        steps_workflow(
            [
                [{"name": "a", "template": "t"}],
                [{"name": "b", "template": "t"}, {"name": "c", "template": "t"}],
                [{"name": "d", "template": "t"}],
            ]
        )
    )
    d.run()
    assert d.op.phase == "Succeeded"
    assert d.started[0] == "a" and set(d.started[1:3]) == {"b", "c"} and d.started[3] == "d"
    root = d.op.nodes["wf"]
    g0, g1 = d.node("wf[0]"), d.node("wf[1]")
    assert root["type"] == "Steps" and g0["type"] == "StepGroup" and g0["displayName"] == "[0]"
    assert root["children"] == [g0["id"]]
    a = d.node("wf[0].a")
    assert a["children"] == [g1["id"]] and a["boundaryID"] == "wf"
    assert sorted(g1["children"]) == sorted([d.node("wf[1].b")["id"], d.node("wf[1].c")["id"]])
    assert root["outboundNodes"] == [d.node("wf[2].d")["id"]]


def test_steps_stop_at_first_failed_group_unless_continue_on() -> None:
    groups = [
        [{"name": "a", "template": "t"}, {"name": "b", "template": "t"}],
        [{"name": "c", "template": "t"}],
    ]
    d = Driver(steps_workflow(groups), {"a": ["Failed"]})
    d.run()
    assert d.op.phase == "Failed" and "c" not in d.started
    groups[0][0]["continueOn"] = {"failed": True}
    d = Driver(steps_workflow(groups), {"a": ["Failed"]})
    d.run()
    assert d.op.phase == "Succeeded" and "c" in d.started


def test_steps_items_when_and_outputs_of_earlier_steps() -> None:
    groups = [
        [{"name": "gen", "template": "t"}],
        [{"name": "each", "template": "t", "withParam": "{{steps.gen.outputs.parameters.xs}}"}],
        [
            {"name": "yes", "template": "t", "when": "{{steps.gen.outputs.parameters.n}} > 1"},
            {"name": "no", "template": "t", "when": "{{steps.gen.outputs.parameters.n}} > 5"},
        ],
    ]
    op = Operator(steps_workflow(groups))
    (gen,) = op.reconcile(T0)
    params = [{"name": "xs", "value": '["a","b"]'}, {"name": "n", "value": "3"}]
    op.pod_finished(gen.node_id, PodResult(Phase.SUCCEEDED, outputs={"parameters": params}), T0)
    reqs = op.reconcile(T0)
    assert [r.name for r in reqs] == ["wf[1].each(0:a)", "wf[1].each(1:b)"]
    for r in reqs:
        op.pod_finished(r.node_id, PodResult(Phase.SUCCEEDED), T0)
    (yes,) = op.reconcile(T0)
    assert yes.name == "wf[2].yes"
    no = op.nodes[node_id("wf", "wf[2].no")]
    assert (no["type"], no["message"]) == ("Skipped", "when '3 > 5' evaluated false")


def test_task_exit_hook_runs_after_completion_and_dependents_wait_for_it() -> None:
    wf = workflow([task("a", hooks={"exit": {"template": "t"}}), task("b", depends="a.Failed")])
    d = Driver(wf, {"a": ["Failed"]})
    d.run()
    assert d.started == ["a", "a.onExit", "b"]  # b waited for a's exit hook
    hook = d.node("wf.a.onExit")
    assert hook["nodeFlag"] == {"hooked": True} and hook["boundaryID"] == "wf"
    assert d.op.phase == "Succeeded"


def test_deprecated_on_exit_is_the_exit_hook_and_skips_when_task_skipped() -> None:
    wf = workflow([task("a", onExit="t", when="1 == 2"), task("b", onExit="t")])
    d = Driver(wf)
    d.run()
    assert sorted(d.started) == ["b", "b.onExit"]  # a was Skipped: no exit hook


def test_expression_hook_fires_once_when_true() -> None:
    hooks = {
        "failed": {"template": "t", "expression": "tasks.a.status == 'Failed'"},
        "ok": {"template": "t", "expression": "tasks.a.status == 'Succeeded'"},
    }
    d = Driver(workflow([task("a", hooks=hooks)]), {"a": ["Failed"]})
    d.run()
    assert d.started == ["a", "a.hooks.failed"]
    assert d.op.phase == "Failed"


def test_workflow_hooks_exit_with_arguments() -> None:
    bye = pod(
        "bye",
        inputs={"parameters": [{"name": "s"}]},
        container={**RUNNER, "args": ["{{inputs.parameters.s}}"]},
    )
    wf = workflow(
        [task("a")],
        [pod("t"), bye],
        hooks={
            "exit": {
                "template": "bye",
                "arguments": {"parameters": [{"name": "s", "value": "{{workflow.status}}"}]},
            }
        },
    )
    op = Operator(wf)
    (a,) = op.reconcile(T0)
    op.pod_finished(a.node_id, PodResult(Phase.SUCCEEDED), T0)
    (exit_pod,) = op.reconcile(T0)
    assert exit_pod.name == "wf.onExit" and exit_pod.template["container"]["args"] == ["Succeeded"]


def test_workflow_expression_hook_runs_once_while_running() -> None:
    wf = workflow(
        [task("a"), task("b", depends="a")],
        [pod("t"), pod("note")],
        hooks={"started": {"template": "note", "expression": "workflow.status == 'Running'"}},
    )
    d = Driver(wf)
    d.run()
    assert d.started.count("hooks.started") == 1 and d.started[:2] == ["a", "hooks.started"]
    assert d.node("wf.hooks.started")["nodeFlag"] == {"hooked": True}
    assert d.op.phase == "Succeeded"


def test_template_timeout_and_active_deadline_bound_the_pod() -> None:
    tmpl = pod("t", timeout="1m", activeDeadlineSeconds="90")
    (req,) = Operator(workflow([task("a")], [tmpl])).reconcile(T0)
    assert req.deadline_s == 60
