"""Argo's semantics that upstream's examples rely on, on the pure operator with scripted pod ends:
aggregated outputs, Skipped producers, templated targets and sequences, step hooks, outputs of
dag and steps templates, failFast and parallelism of steps, daemons, containerSets, retries of
steps templates, scheduling by requests, and every node ending."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nbflow.engine.operator import Operator
from nbflow.engine.parallel import FAIL_FAST_MESSAGE
from nbflow.engine.placement import Capacity, parse_cpu, parse_memory
from nbflow.engine.pod import PodResult
from nbflow.vocab import Phase

from .test_operator import T0, Driver


def echo(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "container": {"image": "alpine", "command": ["echo"]}, **extra}


def wf(templates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {"entrypoint": "main", **spec, "templates": templates},
    }


Outcome = dict[str, Any]  # display name prefix -> PodResult or list of them


class Scripted(Driver):
    """Pods end as ``outcomes`` says, by display name prefix (default: Succeeded)."""

    def __init__(self, workflow: dict[str, Any], outcomes: Outcome | None, **kw: Any) -> None:
        super().__init__(workflow, **kw)
        self.results = dict(outcomes or {})

    def outcome(self, display: str) -> PodResult:
        key = next((k for k in self.results if display.startswith(k)), None)
        result = self.results.get(key) if key else None
        if isinstance(result, list):
            result = result.pop(0) if result else None
        return result or PodResult(Phase.SUCCEEDED)


def run(workflow: dict[str, Any], outcomes: Outcome | None = None, **kw: Any) -> Operator:
    """Drive the operator to the end; pods end as ``outcomes`` says (default: Succeeded)."""
    return Scripted(workflow, outcomes, **kw).run(limit=300)


def by_display(op: Operator) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in op.nodes.values()}


def params(**values: str) -> dict[str, Any]:
    return {"parameters": [{"name": k, "value": v} for k, v in values.items()]}


def test_outputs_of_expanded_steps_are_aggregated_as_argo_does() -> None:
    steps = {
        "name": "main",
        "steps": [
            [{"name": "gen", "template": "echo", "withItems": [1, 2]}],
            [
                {
                    "name": "use",
                    "template": "take",
                    "arguments": params(
                        all="{{steps.gen.outputs.parameters}}",
                        n="{{steps.gen.outputs.parameters.n}}",
                        r="{{steps.gen.outputs.result}}",
                    ),
                }
            ],
        ],
    }
    take = echo("take", inputs={"parameters": [{"name": "all"}, {"name": "n"}, {"name": "r"}]})
    outs = [
        PodResult(Phase.SUCCEEDED, outputs={"result": '{"a":1}', **params(n="1")}),
        PodResult(Phase.SUCCEEDED, outputs={"result": "2", **params(n="2")}),
    ]
    op = run(wf([steps, echo("echo"), take]), {"gen": outs})
    given = {p["name"]: p["value"] for p in by_display(op)["use"]["inputs"]["parameters"]}
    assert given == {"all": '[{"n":"1"},{"n":"2"}]', "n": '["1","2"]', "r": '[{"a":1},2]'}


def test_skipped_producer_gives_its_default_or_lets_the_input_default_apply() -> None:
    produce = echo("produce", outputs={"parameters": [
        {"name": "with", "valueFrom": {"path": "/tmp/a", "default": "from-producer"}},
        {"name": "without", "valueFrom": {"path": "/tmp/b"}},
    ]})
    consume = echo(
        "consume", inputs={"parameters": [{"name": "a"}, {"name": "b", "default": "in"}]}
    )
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "p", "template": "produce", "when": "false"},
        {"name": "c", "template": "consume", "depends": "p.Skipped",
         "arguments": params(a="{{tasks.p.outputs.parameters.with}}",
                             b="{{tasks.p.outputs.parameters.without}}")},
    ]}}
    op = run(wf([dag, produce, consume]))
    given = {p["name"]: p["value"] for p in by_display(op)["c"]["inputs"]["parameters"]}
    assert given == {"a": "from-producer", "b": "in"}
    assert op.phase == "Succeeded"


def test_an_absent_output_without_a_default_errors_the_consumer() -> None:
    produce = echo("produce", outputs={"parameters": [{"name": "x", "valueFrom": {"path": "/a"}}]})
    consume = echo("consume", inputs={"parameters": [{"name": "a"}]})
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "p", "template": "produce", "when": "false"},
        {"name": "c", "template": "consume", "depends": "p.Skipped",
         "arguments": params(a="{{tasks.p.outputs.parameters.x}}")},
    ]}}
    op = run(wf([dag, produce, consume]))
    assert by_display(op)["c"]["phase"] == "Error"
    assert op.phase == "Error"


def test_a_templated_dag_target_runs_only_the_target_and_its_ancestors() -> None:
    tasks = [{"name": "A", "template": "echo"},
             {"name": "B", "template": "echo", "depends": "A"},
             {"name": "C", "template": "echo", "depends": "A"}]
    dag = {"name": "main", "dag": {"target": "{{workflow.parameters.t}}", "tasks": tasks}}
    op = run(wf([dag, echo("echo")], arguments=params(t="C")))
    assert set(by_display(op)) == {"wf", "A", "C"}
    assert op.phase == "Succeeded"


def test_with_sequence_reads_an_earlier_steps_result() -> None:
    steps = {"name": "main", "steps": [
        [{"name": "n", "template": "echo"}],
        [{"name": "each", "template": "echo",
          "withSequence": {"start": "1", "end": "{{steps.n.outputs.result}}"}}],
    ]}
    op = run(wf([steps, echo("echo")]), {"n": PodResult(Phase.SUCCEEDED, outputs={"result": "3"})})
    assert sorted(k for k in by_display(op) if k.startswith("each")) == [
        "each(0:1)", "each(1:2)", "each(2:3)"]


def test_step_exit_hook_runs_after_the_step_with_its_output_artifact() -> None:
    out = echo("out", outputs={"artifacts": [{"name": "r", "path": "/r"}]})
    exit_ = echo("exit", inputs={"artifacts": [{"name": "m", "path": "/m"}]})
    steps = {"name": "main", "steps": [[{
        "name": "s", "template": "out",
        "hooks": {"exit": {"template": "exit", "arguments": {"artifacts": [
            {"name": "m", "from": "{{steps.s.outputs.artifacts.r}}"}]}}},
    }]]}
    art = {"artifacts": [{"name": "r", "path": "/r", "s3": {"key": "k/r"}}]}
    op = run(wf([steps, out, exit_]), {"s": PodResult(Phase.SUCCEEDED, outputs=art)})
    hook = by_display(op)["s.onExit"]
    assert hook["phase"] == "Succeeded"
    assert hook["inputs"]["artifacts"][0]["s3"] == {"key": "k/r"}


def test_outputs_of_a_steps_template_from_expressions_and_global_names() -> None:
    gen = echo("gen", outputs={"parameters": [
        {"name": "v", "valueFrom": {"path": "/v"}, "globalName": "g"}]})
    steps = {"name": "main", "steps": [[{"name": "a", "template": "gen"}]], "outputs": {
        "parameters": [
            {"name": "p", "valueFrom": {"parameter": "{{steps.a.outputs.parameters.v}}"}},
            {"name": "e", "valueFrom": {"expression": "steps.a.outputs.parameters.v + '!'"}},
            {"name": "d", "valueFrom": {"expression": "steps.nope.outputs.result",
                                        "default": "fallback"}},
        ]}}
    op = run(wf([steps, gen]), {"a": PodResult(Phase.SUCCEEDED, outputs=params(v="x"))})
    root = op.nodes["wf"]
    assert root["outputs"]["parameters"] == [
        {"name": "p", "value": "x"}, {"name": "e", "value": "x!"},
        {"name": "d", "value": "fallback"}]
    assert op.status["outputs"]["parameters"] == [{"name": "g", "value": "x"}]


def test_steps_fail_fast_starts_nothing_new_and_fails_the_template() -> None:
    steps = {"name": "main", "failFast": True, "parallelism": 1, "steps": [
        [{"name": "s", "template": "echo", "withItems": [1, 2, 3]}]]}
    op = run(wf([steps, echo("echo")]), {"s(0": PodResult(Phase.FAILED, "no")})
    assert [k for k in by_display(op) if k.startswith("s(")] == ["s(0:1)"]
    assert op.nodes["wf"]["message"] == FAIL_FAST_MESSAGE
    assert op.phase == "Failed"


def test_a_daemon_lets_the_next_steps_run_and_ends_with_its_scope() -> None:
    steps = {"name": "main", "steps": [
        [{"name": "server", "template": "daemon"}],
        [{"name": "client", "template": "take",
          "arguments": params(ip="{{steps.server.ip}}")}],
    ]}
    take = echo("take", inputs={"parameters": [{"name": "ip"}]})
    op = Operator(wf([steps, echo("daemon", daemon=True), take]))
    (server,) = op.reconcile(T0)
    assert op.reconcile(T0) == []  # the client waits for the daemon to be ready
    op.pod_ready(server.node_id, "127.0.0.1")
    (client,) = op.reconcile(T0)
    assert client.inputs["parameters"] == [{"name": "ip", "value": "127.0.0.1"}]
    op.pod_finished(client.node_id, PodResult(Phase.SUCCEEDED), T0)
    op.reconcile(T0)
    assert op.phase == "Succeeded"
    assert op.kills == [server.node_id]  # the engine stops the daemon's pod
    assert op.nodes[server.node_id]["phase"] == "Succeeded"
    op.pod_finished(server.node_id, PodResult(Phase.FAILED, "killed"), T0)
    assert op.nodes[server.node_id]["phase"] == "Succeeded"  # its end was decided already


def test_container_set_gives_one_container_node_per_container() -> None:
    cs = {"name": "main", "containerSet": {"containers": [
        {"name": "a", "image": "x"}, {"name": "b", "image": "x", "dependencies": ["a"]},
        {"name": "c", "image": "x", "dependencies": ["b"]}]}}
    op = Operator(wf([cs]))
    (pod,) = op.reconcile(T0)
    statuses = {"a": {"exitCode": 0}, "b": {"exitCode": 2}, "c": {"skipped": True}}
    op.pod_finished(pod.node_id, PodResult(Phase.FAILED, "b failed",
                                           outputs={"nbflowContainers": statuses}), T0)
    op.reconcile(T0)
    nodes = by_display(op)
    assert {k: nodes[k]["phase"] for k in "abc"} == {
        "a": "Succeeded", "b": "Failed", "c": "Omitted"}
    assert nodes["a"]["type"] == "Container"
    assert nodes["c"]["id"] in nodes["b"]["children"]
    assert "nbflowContainers" not in (op.nodes[pod.node_id].get("outputs") or {})


def test_a_steps_template_with_a_retry_strategy_runs_again_as_a_whole() -> None:
    steps = {"name": "main", "retryStrategy": {"limit": "1"},
             "steps": [[{"name": "s", "template": "echo"}]]}
    op = run(wf([steps, echo("echo")]), {"s": [PodResult(Phase.FAILED, "no")]})
    assert op.nodes["wf"]["type"] == "Retry"
    assert [n["name"] for n in op.nodes.values() if n["type"] == "Steps"] == ["wf(0)", "wf(1)"]
    assert op.phase == "Succeeded"


def test_pods_without_requests_are_limited_only_by_the_pod_cap() -> None:
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "t", "template": "echo", "withItems": list(range(11))}]}}
    op = Operator(wf([dag, echo("echo")]), capacity=Capacity(cpu_m=2000, pods=64))
    assert len(op.reconcile(T0)) == 11


def test_pods_with_requests_are_packed_against_the_cores() -> None:
    heavy = echo("heavy")
    heavy["container"]["resources"] = {"requests": {"cpu": "1500m", "memory": "1Gi"}}
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "h", "template": "heavy", "withItems": [1, 2, 3]},
        {"name": "l", "template": "echo", "withItems": [1, 2]}]}}
    op = Operator(wf([dag, heavy, echo("echo")]), capacity=Capacity(cpu_m=2000, pods=64))
    started = [op.nodes[r.node_id]["displayName"] for r in op.reconcile(T0)]
    assert started == ["h(0:1)", "l(0:1)", "l(1:2)"]  # one heavy pod fits, the light all do


def test_a_pod_asking_more_than_the_machine_has_runs_alone() -> None:
    huge = echo("huge")
    huge["container"]["resources"] = {"requests": {"cpu": "64"}}
    dag = {"name": "main", "dag": {"tasks": [{"name": "h", "template": "huge"}]}}
    op = run(wf([dag, huge]), capacity=Capacity(cpu_m=2000, pods=8))
    assert op.phase == "Succeeded"


def test_kubernetes_quantities() -> None:
    assert [parse_cpu(q) for q in ("500m", "2", "0.5", "1k", "x")] == [500, 2000, 500, 10**6, 0]
    assert [parse_memory(q) for q in ("1Gi", "512M", "1e3", "x")] == [2**30, 512 * 10**6, 1000, 0]


def test_an_engine_error_in_a_nested_dag_leaves_no_node_running() -> None:
    inner = {"name": "inner", "dag": {"target": "{{nope}}", "tasks": [
        {"name": "x", "template": "echo"}]}}
    outer = {"name": "main", "dag": {"tasks": [
        {"name": "i", "template": "inner"}, {"name": "o", "template": "echo"}]}}
    op = run(wf([outer, inner, echo("echo")]))
    assert by_display(op)["i"]["phase"] == "Error"
    assert "failed to resolve {{nope}}" in by_display(op)["i"]["message"]
    assert op.phase == "Error"
    assert not [n for n in op.nodes.values() if n["phase"] in ("Running", "Pending")]


def test_a_mutex_lets_one_pod_hold_it_at_a_time() -> None:
    locked = echo("locked", synchronization={"mutexes": [{"name": "m"}]})
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "t", "template": "locked", "withItems": [1, 2, 3]}]}}
    op = Operator(wf([dag, locked]))
    (first,) = op.reconcile(T0)
    waiting = [n for n in op.nodes.values() if n["type"] == "Pod" and n["phase"] == "Pending"]
    assert len(waiting) == 2
    assert waiting[0]["synchronizationStatus"] == {"waiting": "Mutex/m"}
    assert waiting[0]["message"] == "Waiting for Mutex/m lock"
    op.pod_finished(first.node_id, PodResult(Phase.SUCCEEDED), T0)
    (second,) = op.reconcile(T0)  # released with the first pod's end
    assert "synchronizationStatus" not in op.nodes[second.node_id]


def test_a_semaphore_takes_its_size_and_a_workflow_waits_for_its_lock() -> None:
    from nbflow.engine.sync import MemoryLocks

    locks = MemoryLocks()
    sem = {"semaphores": [{"configMapKeyRef": {"name": "cm", "key": "k"}}]}
    def size(ref: dict[str, Any]) -> int:
        return 2

    dag = {"name": "main", "dag": {"tasks": [
        {"name": "t", "template": "echo", "withItems": [1, 2, 3]}]}}
    tmpl = echo("echo", synchronization=sem)
    op = Operator(wf([dag, tmpl]), locks=locks, semaphore_size=size)
    assert len(op.reconcile(T0)) == 2
    other = Operator(wf([dag, echo("echo")], synchronization={"mutexes": [{"name": "w"}]}),
                     locks=locks)
    other.wf["metadata"]["name"] = other.name = "other"
    assert locks.acquire("Mutex/w", 1, "someone-else")
    assert other.reconcile(T0) == []
    assert other.phase == "Pending"
    assert other.status["message"] == "Waiting for Mutex/w lock"
    locks.release("someone-else")
    assert len(other.reconcile(T0 + timedelta(seconds=1))) == 3
    assert other.phase == "Running" and "message" not in other.status


def test_file_locks_are_shared_by_every_holder_of_the_home(tmp_path: Any) -> None:
    from nbflow.engine.sync import FileLocks

    one, two = FileLocks(tmp_path), FileLocks(tmp_path)  # as two engines of one home
    assert one.acquire("Mutex/m", 1, "a")
    assert not two.acquire("Mutex/m", 1, "b")
    assert two.acquire("Semaphore/cm/k", 2, "b") and one.acquire("Semaphore/cm/k", 2, "c")
    assert not two.acquire("Semaphore/cm/k", 2, "d")
    one.close()
    assert two.acquire("Mutex/m", 1, "b")
    two.close()
