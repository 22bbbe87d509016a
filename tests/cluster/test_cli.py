"""The cluster commands: submit, schedule, k8s rbac/stop/retry/delete/publish, compile --kind."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from nbflow.argo.limits import check_manifest
from nbflow.cli.cluster import add_kind_arguments, convert_kind

SCHEDULED = [
    "%%template first --outputs x\nx = 16",
    "%%template second --inputs x --outputs y\ny = x + 1",
    "%%workflow nightly --schedule '0 2 * * *'\nfirst >> second",
]



def test_submit_and_wait(make_notebook: Any, cluster_home: Path, argo: Any,
                         capsys: pytest.CaptureFixture[str], nbflow: Any) -> None:
    nb = make_notebook("chain")
    assert nbflow(["submit", str(nb), "--wait", "-o", "json", "-p", "scale=3"]) == 0
    out, err = capsys.readouterr()
    wf = json.loads(out)
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["spec"]["arguments"]["parameters"] == [{"name": "scale", "value": "3"}]
    assert f"submitted {wf['metadata']['name']} to namespace team" in err
    assert "third" in err and "Succeeded" in err


def test_submit_without_waiting_prints_the_name(make_notebook: Any, cluster_home: Path,
                                                kube: Any, capsys: Any, nbflow: Any) -> None:
    assert nbflow(["submit", str(make_notebook("chain")), "--namespace", "default",
                   "--service-account", "runner", "--node-selector", "pool=cpu",
                   "--toleration", "spot:NoSchedule", "--image-pull-secret", "regcred"]) == 0
    name = capsys.readouterr().out.strip()
    stored = kube.state.objects[("workflows", "default", name)]["spec"]
    assert stored["serviceAccountName"] == "runner"
    assert stored["nodeSelector"] == {"pool": "cpu"}
    assert stored["tolerations"] == [{"key": "spot", "operator": "Exists",
                                      "effect": "NoSchedule"}]
    assert stored["imagePullSecrets"] == [{"name": "regcred"}]


def test_submit_errors_are_one_line(make_notebook: Any, cluster_home: Path, kube: Any,
                                    capsys: Any, nbflow: Any) -> None:
    kube.state.deny.add(("create", "workflows"))
    assert nbflow(["submit", str(make_notebook("chain"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nbflow: error: forbidden: cannot create workflows.argoproj.io in "
                          "namespace team")
    assert len(err.strip().splitlines()) == 1
    kube.state.crds = False
    assert nbflow(["submit", str(make_notebook("chain"))]) == 2
    assert "Argo Workflows is not installed in this cluster" in capsys.readouterr().err


def test_rbac_prints_valid_objects(capsys: Any, nbflow: Any) -> None:
    assert nbflow(["k8s", "rbac", "-n", "team", "--user", "alice"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding", "Role",
                                         "RoleBinding"]
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    assert nbflow(["k8s", "rbac"]) == 0
    assert "bind the nbflow-submitter Role yourself" in capsys.readouterr().err


def test_control_commands(make_notebook: Any, cluster_home: Path, kube: Any, argo: Any,
                          capsys: Any, nbflow: Any) -> None:
    argo.outcomes = {"second": ["Failed"]}
    assert nbflow(["submit", str(make_notebook("chain")), "--wait"]) == 1
    capsys.readouterr()
    name = next(n for (p, _, n) in kube.state.objects if p == "workflows")
    assert nbflow(["k8s", "retry", name, "--wait"]) == 0
    assert "third" in capsys.readouterr().err
    assert nbflow(["k8s", "stop", name]) == 0
    assert kube.state.objects[("workflows", "team", name)]["spec"]["shutdown"] == "Stop"
    assert nbflow(["k8s", "delete", name]) == 0
    assert ("workflows", "team", name) not in kube.state.objects
    assert nbflow(["k8s", "terminate", name]) == 2
    assert f"no workflow '{name}' in namespace team" in capsys.readouterr().err


def test_publish_shares_templates(make_notebook: Any, cluster_home: Path, kube: Any,
                                  capsys: Any, nbflow: Any) -> None:
    nb = make_notebook("chain")
    assert nbflow(["k8s", "publish", str(nb), "--name", "chain-steps"]) == 0
    stored = kube.state.objects[("workflowtemplates", "team", "chain-steps")]
    assert {t["name"] for t in stored["spec"]["templates"]} == {"main", "first", "second",
                                                                "third"}
    assert nbflow(["k8s", "publish", str(nb), "--cluster-scope"]) == 0
    assert ("clusterworkflowtemplates", "", "chain") in kube.state.objects
    assert "created ClusterWorkflowTemplate chain\n" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        ([], "Workflow"),
        (["--kind", "workflowtemplate"], "WorkflowTemplate"),
        (["--kind", "clusterworkflowtemplate", "--name", "shared"], "ClusterWorkflowTemplate"),
        (["--kind", "cronworkflow"], "CronWorkflow"),
        (["--schedule", "@hourly"], "CronWorkflow"),
        (["--template-ref", "chain-steps"], "Workflow"),
    ],
)
def test_compile_kind_options(
    make_notebook: Any, argv: list[str], kind: str, validate_manifest: Any
) -> None:
    from nbflow.argo.compile import to_manifest
    from nbflow.notebook.extract import read_notebook

    wf = read_notebook(make_notebook(SCHEDULED)).workflow()
    parser = argparse.ArgumentParser()
    add_kind_arguments(parser)
    out = convert_kind(to_manifest(wf), parser.parse_args(argv), schedule=wf.schedule)
    validate_manifest(out)
    assert check_manifest(out) == []
    assert out["kind"] == kind
    if kind == "CronWorkflow":
        assert out["spec"]["schedules"] == (["@hourly"] if "--schedule" in argv else ["0 2 * * *"])
    if "--template-ref" in argv:
        tasks = out["spec"]["templates"][0]["dag"]["tasks"]
        assert [t["templateRef"]["name"] for t in tasks] == ["chain-steps"] * 2
        assert len(out["spec"]["templates"]) == 1
