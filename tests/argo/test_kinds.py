"""WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow of a Workflow; templateRef."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.argo.kinds import (
    CronOptions,
    base_name,
    convert,
    from_template,
    inline_template_refs,
    use_template_ref,
)
from nbflow.argo.limits import check_manifest
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodResult
from nbflow.errors import ManifestError, SpecError
from nbflow.vocab import Phase

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> dict[str, Any]:
    return yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())


NIGHTLY = CronOptions(("0 2 * * *",), timezone="Europe/Paris", concurrency_policy="Forbid")


@pytest.mark.parametrize("name", ["chain", "diamond", "fanout"])
@pytest.mark.parametrize(
    "kind", ["workflow", "workflowtemplate", "clusterworkflowtemplate", "cronworkflow"]
)
def test_every_kind_is_valid(name: str, kind: str, validate_manifest: Any) -> None:
    out = convert(golden(name), kind, cron=NIGHTLY)
    validate_manifest(out)
    assert check_manifest(out) == []
    assert out["kind"].lower() == kind


def test_templates_keep_the_spec_and_get_a_name() -> None:
    wf = golden("fanout")
    tmpl = convert(wf, "WorkflowTemplate")
    assert tmpl["metadata"] == {"name": "fanout", "labels": {"nbflow.io/workflow": "fanout"}}
    assert tmpl["spec"] == wf["spec"]
    cluster = convert(wf, "clusterworkflowtemplate", name="team-fanout")
    assert cluster["kind"] == "ClusterWorkflowTemplate"
    assert cluster["metadata"]["name"] == "team-fanout" and "namespace" not in cluster["metadata"]
    back = convert(tmpl, "workflow")
    assert back == wf  # round trip to the compiled Workflow


def test_cron_workflow_uses_the_v4_schedules_list() -> None:
    wf = golden("chain")
    cron = convert(
        wf,
        "cronworkflow",
        cron=CronOptions(("0 2 * * *", "30 14 * * 5"), "UTC", "Replace", 300, suspend=True),
    )
    assert cron["metadata"] == {"name": "chain", "labels": {"nbflow.io/workflow": "chain"}}
    spec = cron["spec"]
    assert spec["schedules"] == ["0 2 * * *", "30 14 * * 5"] and "schedule" not in spec
    assert (spec["timezone"], spec["concurrencyPolicy"]) == ("UTC", "Replace")
    assert spec["startingDeadlineSeconds"] == 300 and spec["suspend"] is True
    assert spec["workflowMetadata"] == {"labels": {"nbflow.io/workflow": "chain"}}
    assert spec["workflowSpec"] == wf["spec"]
    assert convert(cron, "workflow") == wf


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "pipeline"}, "--kind 'pipeline': use one of workflow, workflowtemplate"),
        ({"kind": "cronworkflow"}, "a CronWorkflow needs a schedule"),
        ({"kind": "cronworkflow", "cron": CronOptions(("daily",))}, "--schedule 'daily'"),
        ({"kind": "cronworkflow", "cron": CronOptions(("@daily",), "Nowhere/Town")},
         "unknown time zone"),
        ({"kind": "cronworkflow", "cron": CronOptions(("@daily",), None, "Sometimes")},
         "--concurrency-policy 'Sometimes': use one of Allow, Forbid, Replace"),
        ({"kind": "cronworkflow", "cron": NIGHTLY, "name": "n" * 53}, "Argo allows 52"),
        ({"kind": "workflowtemplate", "name": "Not_Valid"}, "is not a valid name"),
    ],
)
def test_conversion_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace("*", r"\*")):
        convert(golden("chain"), **kwargs)


def test_base_name() -> None:
    assert base_name({"metadata": {"generateName": "chain-"}}) == "chain"
    assert base_name({"metadata": {"name": "x", "generateName": "y-"}}) == "x"
    with pytest.raises(ManifestError):
        base_name({"metadata": {}})


def test_from_template_runs_a_published_workflow_template(validate_manifest: Any) -> None:
    wf = from_template("nightly", cluster_scope=True, parameters={"scale": "2.0"})
    validate_manifest(wf)
    assert wf["spec"] == {
        "workflowTemplateRef": {"name": "nightly", "clusterScope": True},
        "arguments": {"parameters": [{"name": "scale", "value": "2.0"}]},
    }
    assert wf["metadata"] == {"generateName": "nightly-"}


def test_template_ref_shares_step_templates(validate_manifest: Any) -> None:
    wf = golden("chain")
    shared = convert(wf, "workflowtemplate", name="chain-steps")
    slim = use_template_ref(wf, "chain-steps")
    validate_manifest(slim)
    assert check_manifest(slim) == []
    assert [t["name"] for t in slim["spec"]["templates"]] == ["main"]
    tasks = slim["spec"]["templates"][0]["dag"]["tasks"]
    assert [t["templateRef"] for t in tasks] == [
        {"name": "chain-steps", "template": n} for n in ("first", "second", "third")
    ]
    assert all("template" not in t for t in tasks)
    only = use_template_ref(wf, "chain-steps", cluster_scope=True, templates=["second"])
    assert [t["name"] for t in only["spec"]["templates"]] == ["main", "first", "third"]
    assert only["spec"]["templates"][0]["dag"]["tasks"][1]["templateRef"] == {
        "name": "chain-steps", "template": "second", "clusterScope": True
    }
    with pytest.raises(SpecError, match="no template nope"):
        use_template_ref(wf, "chain-steps", templates=["nope"])
    # resolving the references gives back the same workflow, which then runs the same way
    inlined = inline_template_refs(slim, {"chain-steps": shared})
    assert sorted(inlined["spec"]["templates"], key=lambda t: t["name"]) == sorted(
        wf["spec"]["templates"], key=lambda t: t["name"]
    )
    assert run_pods(inlined) == run_pods(wf) == ["first", "second", "third"]


def test_exit_handler_template_is_shared_too() -> None:
    wf = golden("options")
    slim = use_template_ref(wf, "lib")
    names = [t["name"] for t in slim["spec"]["templates"]]
    assert names == ["main", "notify-exit"]  # DAG templates stay; every leaf moved out
    exit_task = slim["spec"]["templates"][1]["dag"]["tasks"][0]
    assert exit_task["templateRef"] == {"name": "lib", "template": "notify"}


def test_inline_errors() -> None:
    slim = use_template_ref(golden("chain"), "lib")
    with pytest.raises(ManifestError, match="refers to 'lib', which is not given"):
        inline_template_refs(slim, {})
    with pytest.raises(ManifestError, match="'lib' has no template 'first'"):
        inline_template_refs(slim, {"lib": convert(golden("diamond"), "workflowtemplate")})


def run_pods(manifest: dict[str, Any]) -> list[str]:
    op = Operator({**manifest, "metadata": {"name": "r"}})
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    started = []
    for _ in range(50):
        reqs = op.reconcile(now)
        if op.done:
            break
        for req in reqs:
            started.append(op.nodes[req.node_id]["displayName"])
            outs = req.template.get("outputs", {}).get("artifacts", [])
            arts = [{"name": a["name"], "path": a["path"], "s3": a["s3"]} for a in outs]
            now += timedelta(seconds=1)
            op.pod_finished(req.node_id, PodResult(Phase.SUCCEEDED, outputs={"artifacts": arts}),
                            now)
    assert op.phase == "Succeeded"
    return started


def test_export_prepares_for_kubectl(validate_manifest: Any) -> None:
    from nbflow.argo.kinds import export

    tolerant = golden("tolerant")
    for task in tolerant["spec"]["templates"][0]["dag"]["tasks"]:  # the form Argo refuses
        if "dependencies" in task:
            task["depends"] = " && ".join(task.pop("dependencies"))
    assert check_manifest(tolerant)
    out = export(tolerant)
    validate_manifest(out)
    assert check_manifest(out) == [] and out["kind"] == "Workflow"
    cron = export(golden("chain"), schedules=("@daily",), timezone="UTC", template_ref="lib",
                  cluster_scope=True)
    assert cron["kind"] == "CronWorkflow" and cron["spec"]["schedules"] == ["@daily"]
    tasks = cron["spec"]["workflowSpec"]["templates"][0]["dag"]["tasks"]
    assert tasks[0]["templateRef"] == {"name": "lib", "template": "first", "clusterScope": True}
    assert export(golden("chain"), "workflowtemplate", name="x")["metadata"]["name"] == "x"
