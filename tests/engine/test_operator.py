"""Table tests of the pure scheduler, driven with fake pod outcomes (like Argo's makePodsPhase)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from nbflow.engine.nodes import fnv32a, node_id
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodResult
from nbflow.vocab import Phase

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
RUNNER = {"image": "x", "command": ["python", "-m", "nbflow.runner"], "args": []}


def pod(name: str, **extra: Any) -> dict[str, Any]:
    out = {"name": name, "container": dict(RUNNER), **extra}
    out.setdefault("inputs", {})
    return out


def workflow(
    tasks: list[dict[str, Any]], templates: list[dict[str, Any]] | None = None, **spec: Any
) -> dict[str, Any]:
    templates = templates if templates is not None else [pod("t")]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {
            "entrypoint": "main",
            **spec,
            "templates": [{"name": "main", "dag": {"tasks": tasks}}, *templates],
        },
    }


def task(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "template": extra.pop("template", "t"), **extra}


class Driver:
    """Runs an operator with scripted outcomes per pod display name prefix."""

    def __init__(
        self,
        wf: dict[str, Any],
        outcomes: dict[str, list[str]] | None = None,
        max_running: int | None = None,
        **kw: Any,
    ) -> None:
        self.op = Operator(wf, max_running=max_running, **kw)
        self.outcomes = {k: list(v) for k, v in (outcomes or {}).items()}
        self.now = T0
        self.started: list[str] = []
        self.max_seen = 0

    def outcome(self, display: str) -> PodResult:
        base = display.split("(")[0]
        queue = self.outcomes.get(display) or self.outcomes.get(base) or []
        phase = queue.pop(0) if queue else "Succeeded"
        return PodResult(Phase(phase), None if phase == "Succeeded" else f"{phase} on purpose")

    def run(self, limit: int = 200) -> Operator:
        running: list[str] = []
        for _ in range(limit):
            for req in self.op.reconcile(self.now):
                running.append(req.node_id)
                self.started.append(self.op.nodes[req.node_id]["displayName"])
            self.max_seen = max(self.max_seen, len(running))
            if self.op.done:
                return self.op
            self.now += timedelta(seconds=1)
            if running:
                nid = running.pop(0)
                self.op.pod_finished(nid, self.outcome(self.op.nodes[nid]["displayName"]), self.now)
            elif self.op.wakeup is not None:
                self.now = max(self.now, self.op.wakeup)
        raise AssertionError("workflow did not finish")

    def node(self, name: str) -> dict[str, Any]:
        return self.op.nodes[node_id("wf", name)]


def phases(d: Driver) -> dict[str, str]:
    return {n["name"]: n["phase"] for n in d.op.nodes.values()}


def test_chain_succeeds_with_argo_names_and_ids() -> None:
    d = Driver(workflow([task("a"), task("b", depends="a"), task("c", depends="b")]))
    d.run()
    assert d.op.phase == "Succeeded"
    assert d.started == ["a", "b", "c"]
    root = d.op.nodes["wf"]
    assert root["type"] == "DAG" and root["phase"] == "Succeeded"
    a = d.node("wf.a")
    assert a["id"] == f"wf-{fnv32a('wf.a')}" and a["boundaryID"] == "wf" and a["type"] == "Pod"
    assert root["children"] == [a["id"]]
    assert a["children"] == [d.node("wf.b")["id"]]
    assert root["outboundNodes"] == [d.node("wf.c")["id"]]


def test_diamond_runs_both_branches_before_the_join() -> None:
    d = Driver(
        workflow(
            [task("a"), task("b", depends="a"), task("c", depends="a"), task("d", depends="b && c")]
        )
    )
    d.run()
    assert d.started[0] == "a" and d.started[-1] == "d" and set(d.started[1:3]) == {"b", "c"}
    assert d.node("wf.b")["children"] == d.node("wf.c")["children"] == [d.node("wf.d")["id"]]


def test_failure_omits_dependents_and_fails_workflow() -> None:
    d = Driver(workflow([task("a"), task("b", depends="a")]), {"a": ["Failed"]})
    d.run()
    assert d.op.phase == "Failed"
    b = d.node("wf.b")
    assert (b["type"], b["phase"], b["message"]) == (
        "Skipped",
        "Omitted",
        "omitted: depends condition not met",
    )
    assert b["finishedAt"] == b["startedAt"]


def test_continue_on_failed_lets_dependents_run_and_workflow_succeed() -> None:
    d = Driver(
        workflow([task("a", continueOn={"failed": True}), task("b", depends="a")]),
        {"a": ["Failed"]},
    )
    d.run()
    assert phases(d)["wf.a"] == "Failed" and phases(d)["wf.b"] == "Succeeded"
    assert d.op.phase == "Succeeded"


def test_continue_on_failed_does_not_cover_error() -> None:
    d = Driver(
        workflow([task("a", continueOn={"failed": True}), task("b", depends="a")]), {"a": ["Error"]}
    )
    d.run()
    assert phases(d)["wf.b"] == "Omitted" and d.op.phase == "Error"


def test_depends_on_failure_is_a_catch_handler() -> None:
    d = Driver(workflow([task("a"), task("b", depends="a.Failed")]), {"a": ["Failed"]})
    d.run()
    assert phases(d)["wf.b"] == "Succeeded"
    assert d.op.phase == "Succeeded"  # the failed task's only dependent handled it (Argo's rule)


def retry_template(**strategy: Any) -> dict[str, Any]:
    return pod("t", retryStrategy=strategy)


def test_retry_until_success_makes_retry_node_with_attempts() -> None:
    d = Driver(
        workflow([task("a")], [retry_template(limit="3", retryPolicy="Always")]),
        {"a": ["Failed", "Error", "Succeeded"]},
    )
    d.run()
    a = d.node("wf.a")
    assert a["type"] == "Retry" and a["phase"] == "Succeeded" and "templateName" not in a
    kids = [d.op.nodes[k] for k in a["children"]]
    assert [k["displayName"] for k in kids] == ["a(0)", "a(1)", "a(2)"]
    assert [k["phase"] for k in kids] == ["Failed", "Error", "Succeeded"]
    assert all(k["nodeFlag"] == {"retried": True} for k in kids)
    assert d.op.phase == "Succeeded"


def test_retry_limit_exhausted() -> None:
    d = Driver(workflow([task("a")], [retry_template(limit="1")]), {"a": ["Failed"] * 5})
    d.run()
    a = d.node("wf.a")
    assert (a["phase"], a["message"]) == ("Failed", "No more retries left")
    assert len(a["children"]) == 2


def test_on_failure_policy_does_not_retry_errors() -> None:
    d = Driver(
        workflow([task("a")], [retry_template(limit="3", retryPolicy="OnFailure")]),
        {"a": ["Error"]},
    )
    d.run()
    assert len(d.node("wf.a")["children"]) == 1 and d.node("wf.a")["phase"] == "Error"


def test_backoff_waits_duration_times_factor_capped() -> None:
    wf = workflow(
        [task("a")],
        [retry_template(limit="5", backoff={"duration": "2s", "factor": "3", "cap": "10s"})],
    )
    op = Operator(wf)
    waits = []
    now = T0
    for _ in range(4):
        (req,) = op.reconcile(now)
        now += timedelta(seconds=1)
        op.pod_finished(req.node_id, PodResult(Phase.FAILED, "boom"), now)
        assert op.reconcile(now) == []
        assert op.nodes[node_id("wf", "wf.a")]["message"].startswith("Backoff for ")
        assert op.wakeup is not None
        waits.append((op.wakeup - now).total_seconds())
        now = op.wakeup
    assert waits == [2, 6, 10, 10]


def test_backoff_needs_limit_and_max_duration_stops_retries() -> None:
    wf = workflow(
        [task("a")], [retry_template(limit="9", backoff={"duration": "5s", "maxDuration": "3s"})]
    )
    d = Driver(wf, {"a": ["Failed"] * 9})
    d.run()
    a = d.node("wf.a")
    assert a["message"] == "Backoff would exceed max duration limit" and len(a["children"]) == 1


def test_with_items_creates_task_group_with_item_names() -> None:
    items = [{"_i": 0, "shard": 1}, {"_i": 1, "shard": 2}]
    d = Driver(workflow([task("a", withItems=items), task("b", depends="a")]))
    d.run()
    group = d.node("wf.a")
    assert group["type"] == "TaskGroup" and group["phase"] == "Succeeded"
    assert [d.op.nodes[k]["displayName"] for k in group["children"]] == [
        "a(0:_i:0,shard:1)",
        "a(1:_i:1,shard:2)",
    ]
    b = d.node("wf.b")["id"]
    assert all(d.op.nodes[k]["children"] == [b] for k in group["children"])


def test_item_failure_fails_group() -> None:
    d = Driver(workflow([task("a", withItems=[1, 2, 3])]), {"a(1:2)": ["Failed"]})
    d.run()
    assert d.node("wf.a")["phase"] == "Failed" and d.op.phase == "Failed"


def test_empty_items_skip() -> None:
    d = Driver(workflow([task("a", withItems=[]), task("b", depends="a")]))
    d.run()
    a = d.node("wf.a")
    assert (a["type"], a["phase"], a["message"]) == ("Skipped", "Skipped", "Skipped, empty params")
    assert phases(d)["wf.b"] == "Succeeded"  # a bare depends accepts Skipped (argo#1386)


def test_when_false_skips_and_dependents_still_run() -> None:
    d = Driver(workflow([task("a", when="1 > 2"), task("b", depends="a")]))
    d.run()
    a = d.node("wf.a")
    assert (a["type"], a["phase"], a["message"]) == (
        "Skipped",
        "Skipped",
        "when '1 > 2' evaluated false",
    )
    assert phases(d)["wf.b"] == "Succeeded" and d.op.phase == "Succeeded"


def test_when_reads_upstream_output_parameter() -> None:
    wf = workflow(
        [
            task("a"),
            task("b", depends="a", when="{{tasks.a.outputs.parameters.acc}} > 0.9"),
            task("c", depends="a", when="{{tasks.a.outputs.parameters.acc}} < 0.9"),
        ]
    )
    op = Operator(wf)
    (req,) = op.reconcile(T0)
    op.pod_finished(
        req.node_id,
        PodResult(Phase.SUCCEEDED, outputs={"parameters": [{"name": "acc", "value": "0.95"}]}),
        T0,
    )
    started = [r.name for r in op.reconcile(T0)]
    assert started == ["wf.b"]
    assert op.nodes[node_id("wf", "wf.c")]["phase"] == "Skipped"


def test_parallelism_caps_running_pods() -> None:
    d = Driver(workflow([task("a", withItems=list(range(6)))], parallelism=2))
    d.run()
    assert d.max_seen == 2 and len(d.started) == 6


def test_fail_fast_starts_nothing_new_after_a_failure() -> None:
    d = Driver(
        workflow([task("a"), task("b"), task("c", depends="b")]), {"a": ["Failed"]}, max_running=1
    )
    d.run()
    assert "c" not in d.started and d.op.phase == "Failed"


def test_fail_fast_false_runs_other_branches() -> None:
    wf = workflow([task("a"), task("b"), task("c", depends="b")])
    wf["spec"]["templates"][0]["dag"]["failFast"] = False
    d = Driver(wf, {"a": ["Failed"]}, max_running=1)
    d.run()
    assert "c" in d.started and d.op.phase == "Failed"


@pytest.mark.parametrize(
    ("main", "exit_", "final"),
    [
        ("Succeeded", "Succeeded", "Succeeded"),
        ("Failed", "Succeeded", "Failed"),
        ("Succeeded", "Failed", "Failed"),
        ("Failed", "Failed", "Failed"),
    ],
)
def test_exit_handler_runs_whatever_the_outcome(main: str, exit_: str, final: str) -> None:
    wf = workflow(
        [task("a")],
        [pod("t"), pod("bye", container={**RUNNER, "args": ["{{workflow.status}}"]})],
        onExit="bye",
    )
    d = Driver(wf, {"a": [main], "onExit": [exit_]})
    d.run()
    exit_node = d.node("wf.onExit")
    assert exit_node["phase"] == exit_ and exit_node["nodeFlag"] == {"hooked": True}
    assert d.op.phase == final
    assert d.started == ["a", "onExit"]


def test_exit_handler_sees_workflow_status() -> None:
    wf = workflow(
        [task("a")],
        [pod("t"), pod("bye", container={**RUNNER, "args": ["{{workflow.status}}"]})],
        onExit="bye",
    )
    op = Operator(wf)
    (req,) = op.reconcile(T0)
    op.pod_finished(req.node_id, PodResult(Phase.FAILED, "x"), T0)
    (exit_req,) = op.reconcile(T0)
    assert exit_req.template["container"]["args"] == ["Failed"]


def test_parameters_flow_through_arguments_defaults_and_workflow() -> None:
    tmpl = pod(
        "t",
        inputs={"parameters": [{"name": "x"}, {"name": "y", "default": "7"}]},
        container={
            **RUNNER,
            "args": ["{{inputs.parameters.x}}", "{{inputs.parameters.y}}", "{{workflow.name}}"],
        },
    )
    wf = workflow(
        [
            task(
                "a", arguments={"parameters": [{"name": "x", "value": "{{workflow.parameters.p}}"}]}
            )
        ],
        [tmpl],
        arguments={"parameters": [{"name": "p", "value": "42"}]},
    )
    (req,) = Operator(wf).reconcile(T0)
    assert req.template["container"]["args"] == ["42", "7", "wf"]


def test_missing_input_parameter_errors_the_task_and_the_run_ends() -> None:
    wf = workflow([task("a")], [pod("t", inputs={"parameters": [{"name": "x"}]})])
    op = Driver(wf).run()
    node = op.node("wf.a")
    assert node is not None and node["phase"] == "Error"
    assert "inputs.parameters.x was not supplied" in node["message"]
    assert op.phase == "Error"
    assert not [n for n in op.nodes.values() if n["phase"] in ("Running", "Pending")]


def test_a_pod_template_that_cannot_be_substituted_errors_that_pod_only() -> None:
    bad = pod("bad", container={**RUNNER, "args": ["{{workflow.name"]})
    wf = workflow([task("a", template="bad"), task("b")], [bad, pod("t")])
    op = Driver(wf).run()
    assert op.node("wf.a")["phase"] == "Error"  # type: ignore[index]
    assert "cannot find end tag" in op.node("wf.a")["message"]  # type: ignore[index]
    assert op.node("wf.b")["phase"] == "Succeeded"  # type: ignore[index]
    assert op.phase == "Error"


def test_a_pod_template_keeps_tags_it_cannot_resolve_as_argo_does() -> None:
    tmpl = pod("t", container={**RUNNER, "args": ["{{workflow.status}}", "{{=nope + 1}}"]})
    (req,) = Operator(workflow([task("a")], [tmpl])).reconcile(T0)
    assert req.template["container"]["args"] == ["{{workflow.status}}", "{{=nope + 1}}"]


def test_settle_ends_every_unfinished_node_with_the_reason() -> None:
    op = Operator(workflow([task("a"), task("b", depends="a")]))
    op.reconcile(T0)
    ended = op.settle("engine error: boom")
    assert ended and all(op.nodes[i]["phase"] == "Error" for i in ended)
    assert {op.nodes[i]["message"] for i in ended} == {"engine error: boom"}
    assert not [n for n in op.nodes.values() if n["phase"] in ("Running", "Pending")]


def test_artifact_from_resolves_upstream_key() -> None:
    producer = pod("p", outputs={"artifacts": [{"name": "x", "path": "/nbflow/o"}]})
    consumer = pod("c", inputs={"artifacts": [{"name": "x", "path": "/nbflow/i"}]})
    wf = workflow(
        [
            task("a", template="p"),
            task(
                "b",
                template="c",
                depends="a",
                arguments={"artifacts": [{"name": "x", "from": "{{tasks.a.outputs.artifacts.x}}"}]},
            ),
        ],
        [producer, consumer],
    )
    op = Operator(wf)
    (req,) = op.reconcile(T0)
    outputs = {"artifacts": [{"name": "x", "path": "/nbflow/o", "s3": {"key": "k/x/"}}]}
    op.pod_finished(req.node_id, PodResult(Phase.SUCCEEDED, outputs=outputs), T0)
    (req_b,) = op.reconcile(T0)
    assert req_b.inputs["artifacts"] == [{"name": "x", "path": "/nbflow/i", "s3": {"key": "k/x/"}}]


def test_with_param_from_upstream_output_aggregates() -> None:
    wf = workflow(
        [task("a"), task("b", depends="a", withParam="{{tasks.a.outputs.parameters.xs}}")]
    )
    op = Operator(wf)
    (req,) = op.reconcile(T0)
    op.pod_finished(
        req.node_id,
        PodResult(Phase.SUCCEEDED, outputs={"parameters": [{"name": "xs", "value": "[1,2,3]"}]}),
        T0,
    )
    assert [r.name for r in op.reconcile(T0)] == ["wf.b(0:1)", "wf.b(1:2)", "wf.b(2:3)"]


def test_with_sequence_counts_and_formats() -> None:
    d = Driver(workflow([task("a", withSequence={"start": "3", "end": "1", "format": "n%02d"})]))
    d.run()
    assert d.started == ["a(0:n03)", "a(1:n02)", "a(2:n01)"]


def test_a_cycle_in_a_hand_written_dag_is_named_like_lint_names_it() -> None:
    from nbflow.engine.dagplan import DagPlan
    from nbflow.errors import CycleError

    tmpl = {"name": "main", "dag": {"tasks": [task("a", depends="b"), task("b", depends="a")]}}
    with pytest.raises(CycleError) as info:
        DagPlan.of(tmpl)
    assert str(info.value) in (
        "template main: dependency cycle: a >> b >> a",
        "template main: dependency cycle: b >> a >> b",
    )
