"""The checks Argo's JSON schema misses: size, CRD maxItems, enums, CEL rules, validate.go."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.argo.limits import (
    MAX_DAG_TASKS,
    SIZE_LIMIT,
    SIZE_WARN,
    check_manifest,
    manifest_size,
)

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> dict[str, Any]:
    return yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())


def mixed(name: str) -> dict[str, Any]:
    """A golden manifest written with ``depends`` next to ``continueOn``, as Argo refuses it
    (the compiler itself writes such DAGs with ``dependencies``)."""
    wf = golden(name)
    for task in wf["spec"]["templates"][0]["dag"]["tasks"]:
        if "dependencies" in task:
            task["depends"] = " && ".join(task.pop("dependencies"))
    return wf


def messages(manifest: dict[str, Any], level: str = "error") -> list[str]:
    return [f"{p.where}: {p.message}" for p in check_manifest(manifest) if p.level == level]


def small(tasks: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    tasks = tasks if tasks is not None else [{"name": "a", "template": "t"}]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "wf-"},
        "spec": {
            "entrypoint": "main",
            **spec,
            "templates": [
                {"name": "main", "dag": {"tasks": tasks}},
                {"name": "t", "container": {"image": "x"}},
            ],
        },
    }


@pytest.mark.parametrize("name", ["chain", "diamond", "fanout", "failing"])
def test_golden_manifests_pass(name: str) -> None:
    assert check_manifest(golden(name)) == []


@pytest.mark.parametrize(("name", "task"), [("options", "fallback"), ("tolerant", "boom")])
def test_continue_on_with_depends_anywhere_in_the_dag_is_rejected(name: str, task: str) -> None:
    # Argo's validate.go refuses continueOn in a DAG that uses depends (the CRD only per task):
    # a real cluster fails these workflows with "invalid spec".
    assert messages(golden(name)) == []  # the compiler's own output is accepted
    (msg,) = messages(mixed(name))
    assert msg.startswith(f"spec.templates[main].dag.tasks[{task}]: cannot use 'continueOn'")


def test_dependencies_with_continue_on_is_accepted() -> None:
    wf = small(
        [
            {"name": "a", "template": "t", "continueOn": {"failed": True}},
            {"name": "b", "template": "t", "dependencies": ["a"]},
        ]
    )
    assert check_manifest(wf) == []


def test_depends_and_dependencies_rules() -> None:
    both = small([{"name": "a", "template": "t"},
                  {"name": "b", "template": "t", "depends": "a", "dependencies": ["a"]}])
    assert messages(both) == [
        "spec.templates[main].dag.tasks[b]: cannot use both 'depends' and 'dependencies'"
    ]
    mixed = small([{"name": "a", "template": "t"}, {"name": "b", "template": "t", "depends": "a"},
                   {"name": "c", "template": "t", "dependencies": ["a"]}])
    assert messages(mixed) == [
        "spec.templates[main].dag.tasks[c]: cannot use both 'depends' and 'dependencies' in the "
        "same DAG template"
    ]


def test_task_names() -> None:
    wf = small([{"name": "1a", "template": "t"}, {"name": "b_c", "template": "t", "depends": "1a"}])
    assert messages(wf) == ["spec.templates[main].dag.tasks[b_c]: invalid task name 'b_c'"]
    wf = small([{"name": "a", "template": "t"}, {"name": "2b", "template": "t", "depends": "a"}])
    assert "begin with a digit" in messages(wf)[0]


def test_unknown_template_and_missing_template() -> None:
    wf = small([{"name": "a", "template": "nope"}, {"name": "b"}])
    assert messages(wf) == [
        "spec.templates[main].dag.tasks[a]: task uses template 'nope', which is not defined",
        "spec.templates[main].dag.tasks[b]: task names no template (template, templateRef or "
        "inline)",
    ]


def test_too_many_tasks_and_templates() -> None:
    tasks = [{"name": f"t{i}", "template": "t"} for i in range(MAX_DAG_TASKS + 1)]
    wf = small(tasks)
    assert messages(wf) == [
        f"spec.templates[main].dag.tasks: {MAX_DAG_TASKS + 1} tasks, over the 200 a DAG template "
        "can hold: nest them (nbflow.argo.nesting.nest_large_dags)"
    ]
    assert check_manifest(small(tasks[:MAX_DAG_TASKS])) == []
    many = small()
    many["spec"]["templates"] += [
        {"name": f"c{i}", "container": {"image": "x"}} for i in range(199)
    ]
    assert messages(many) == ["spec.templates: 201 templates, over the 200 the CRD allows"]


def test_template_rules() -> None:
    wf = small()
    wf["spec"]["templates"][0]["activeDeadlineSeconds"] = "10"
    wf["spec"]["templates"][0]["timeout"] = "1m"
    wf["spec"]["templates"][1]["script"] = {"image": "x", "source": "print(1)"}
    assert messages(wf) == [
        "spec.templates[main]: timeout cannot be applied to steps or dag templates",
        "spec.templates[main]: activeDeadlineSeconds is only valid for leaf templates",
        "spec.templates[t]: template must have at most one template type (container, script)",
    ]


def test_enums() -> None:
    wf = small(podGC={"strategy": "Sometimes"}, retryStrategy={"retryPolicy": "Never"})
    wf["spec"]["templates"][1]["retryStrategy"] = {"limit": "2", "retryPolicy": "OnSuccess"}
    wf["spec"]["templates"][1]["container"]["imagePullPolicy"] = "Maybe"
    assert messages(wf) == [
        "spec.podGC.strategy: podGC.strategy 'Sometimes' is not one of 'OnPodCompletion', "
        "'OnPodSuccess', 'OnWorkflowCompletion', 'OnWorkflowSuccess'",
        "spec.retryStrategy.retryPolicy: retryPolicy 'Never' is not one of 'Always', 'OnFailure', "
        "'OnError', 'OnTransientError'",
        "spec.templates[t].retryStrategy.retryPolicy: retryPolicy 'OnSuccess' is not one of "
        "'Always', 'OnFailure', 'OnError', 'OnTransientError'",
        "spec.templates[t].container.imagePullPolicy: imagePullPolicy 'Maybe' is not one of "
        "'Always', 'Never', 'IfNotPresent'",
    ]


def test_artifacts_and_parameters() -> None:
    wf = small(
        [
            {
                "name": "a",
                "template": "t",
                "arguments": {
                    "parameters": [{"name": "bad name", "value": "1"}],
                    "artifacts": [{"name": "x", "s3": {"key": "k"}, "raw": {"data": "d"}}],
                },
                "withSequence": {"count": "3", "end": "4"},
            }
        ]
    )
    assert messages(wf) == [
        "spec.templates[main].dag.tasks[a].withSequence: only one of count or end can be defined",
        "spec.templates[main].dag.tasks[a].arguments.parameters: invalid parameter name "
        "'bad name'",
        "spec.templates[main].dag.tasks[a].arguments.artifacts: artifact 'x': at most one "
        "artifact location can be specified (s3, raw)",
    ]


def test_cron_rules() -> None:
    cron = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "n" * 53},
        "spec": {
            "schedules": ["0 2 * * *", "every day"],
            "timezone": "Mars/Olympus",
            "concurrencyPolicy": "Sometimes",
            "workflowSpec": small()["spec"],
        },
    }
    assert messages(cron) == [
        "metadata.name: a CronWorkflow name can have at most 52 characters (53)",
        "spec.schedules[1]: 'every day' is not a cron schedule (five fields, @daily-style macro "
        "or @every DURATION)",
        "spec.concurrencyPolicy: concurrencyPolicy 'Sometimes' is not one of 'Allow', 'Forbid', "
        "'Replace'",
        "spec.timezone: unknown time zone 'Mars/Olympus'",
    ]
    cron["metadata"]["name"] = "nightly"
    cron["spec"].update(schedules=[], timezone="Europe/Paris", concurrencyPolicy="Forbid")
    assert messages(cron) == ["spec.schedules: a CronWorkflow needs at least one schedule"]
    cron["spec"]["schedules"] = ["@daily", "@every 1h30m", "*/5 2 * * MON-FRI"]
    assert check_manifest(cron) == []


def test_names() -> None:
    wf = small()
    wf["metadata"] = {"generateName": "Bad_Name-"}
    assert messages(wf) == [
        "metadata.generateName: 'Bad_Name-' is not a valid object name (lower-case letters, "
        "digits, '-' and '.', starting and ending with a letter or digit)"
    ]
    wf["metadata"] = {"generateName": "a" * 60 + "-"}
    assert [p.level for p in check_manifest(wf)] == ["warning"]
    assert check_manifest({"kind": "Pod"})[0].message == "not an Argo workflow kind: 'Pod'"


def test_size_warns_before_the_limit_and_names_the_largest_templates() -> None:
    wf = golden("chain")
    base = manifest_size(wf)
    grow = copy.deepcopy(wf)
    step = grow["spec"]["templates"][1]["inputs"]["artifacts"][0]["raw"]
    step["data"] += "#" * (SIZE_WARN - base + 10)
    (problem,) = check_manifest(grow)
    assert problem.level == "warning" and "close to the 1024 KiB" in problem.message
    assert "largest templates: first (" in problem.message
    step["data"] += "#" * (SIZE_LIMIT - SIZE_WARN)
    (problem,) = check_manifest(grow)
    assert problem.level == "error" and "over the 1024 KiB" in problem.message
    assert check_manifest(wf) == []


@pytest.mark.parametrize(("name", "fail"), [("tolerant", "boom"), ("options", "flaky")])
def test_dependencies_form_is_accepted_and_runs_the_same(
    name: str, fail: str, validate_manifest: Any
) -> None:
    from datetime import datetime, timedelta, timezone

    from nbflow.argo.limits import dependencies_for_continue_on
    from nbflow.engine.operator import Operator
    from nbflow.engine.pod import PodResult
    from nbflow.vocab import Phase

    wf = mixed(name)
    fixed = dependencies_for_continue_on(wf)
    validate_manifest(fixed)
    assert check_manifest(fixed) == []
    tasks = fixed["spec"]["templates"][0]["dag"]["tasks"]
    assert not any("depends" in t for t in tasks)
    assert [t.get("dependencies") for t in tasks] == [
        [d.strip() for d in t["depends"].split("&&")] if "depends" in t else None
        for t in wf["spec"]["templates"][0]["dag"]["tasks"]
    ]

    def run(manifest: dict[str, Any]) -> dict[str, str]:
        op = Operator({**manifest, "metadata": {"name": "r"}})
        now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        for _ in range(100):
            reqs = op.reconcile(now)
            if op.done:
                return {n["name"]: n["phase"] for n in op.nodes.values()} | {"": op.phase}
            now += timedelta(seconds=30)
            for req in reqs:
                display = op.nodes[req.node_id]["displayName"]
                phase = Phase.FAILED if display.startswith(fail) else Phase.SUCCEEDED
                outs = req.template.get("outputs", {})
                params = [{"name": p["name"], "value": "0.5"} for p in outs.get("parameters", [])]
                arts = [{"name": a["name"], "path": a["path"], "s3": a["s3"]}
                        for a in outs.get("artifacts", [])]
                op.pod_finished(req.node_id, PodResult(phase, "x", {"artifacts": arts,
                                                                    "parameters": params}), now)
        raise AssertionError("did not finish")

    assert run(fixed) == run(wf)
    assert dependencies_for_continue_on(golden("chain")) == golden("chain")
