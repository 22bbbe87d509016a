"""Schedules on a cluster: ``nbflow schedule ... --backend argo`` against the Kubernetes API
double, the CronWorkflow (with its notification exit handler) against Argo's schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.argo.limits import check_manifest
from nbflow.cli import main

SCHEDULED = [
    "%%template first --outputs x --param scheduled_time=None\nx = 16",
    "%%template second --inputs x --outputs y\ny = x + 1",
    "%%template tidy\nprint('bye')",
    "%%workflow nightly --schedule '0 2 * * *' --on-exit tidy\nfirst >> second",
]


def test_add_applies_the_cron_workflow(make_notebook: Any, cluster_home: Path, kube: Any,
                                       capsys: Any, validate_manifest: Any) -> None:
    nb = make_notebook(SCHEDULED)
    argv = ["schedule", "add", str(nb), "--backend", "argo", "--cron", "*/10 * * * *",
            "--cron", "0 3 * * 1", "--timezone", "Europe/Paris", "--concurrency-policy",
            "Forbid", "--starting-deadline", "300", "--history", "5/2"]
    assert main(argv) == 0
    assert "created CronWorkflow nightly in namespace team" in capsys.readouterr().err
    cron = kube.state.objects[("cronworkflows", "team", "nightly")]
    validate_manifest(cron)
    assert check_manifest(cron) == []
    spec = cron["spec"]
    assert spec["schedules"] == ["*/10 * * * *", "0 3 * * 1"]
    assert (spec["timezone"], spec["concurrencyPolicy"], spec["startingDeadlineSeconds"]) == (
        "Europe/Paris", "Forbid", 300)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (5, 2)
    assert spec["workflowSpec"]["securityContext"]["runAsNonRoot"] is True
    # the notebook's scheduled_time parameter gets each run's scheduled time
    first = next(t for t in spec["workflowSpec"]["templates"][0]["dag"]["tasks"]
                 if t["name"] == "first")
    args = {p["name"]: p["value"] for p in first["arguments"]["parameters"]}
    assert args["scheduled_time"] == "{{workflow.scheduledTime}}"
    assert main(argv) == 0
    assert "updated CronWorkflow nightly" in capsys.readouterr().err


def test_notifications_compile_to_an_exit_handler(make_notebook: Any, cluster_home: Path,
                                                  kube: Any, validate_manifest: Any,
                                                  monkeypatch: Any) -> None:
    monkeypatch.setenv("NBFLOW_WEBHOOK_TEAM", "https://hooks.example.com/T0/SECRET")
    monkeypatch.setenv("NBFLOW_SMTP_PASSWORD", "s3cret-Pa55")
    nb = make_notebook(SCHEDULED)
    assert main(["schedule", "add", str(nb), "--backend", "argo", "--notify",
                 "email:ops@example.org", "--notify", "slack:team"]) == 0
    cron = kube.state.objects[("cronworkflows", "team", "nightly")]
    validate_manifest(cron)
    assert check_manifest(cron) == []
    text = json.dumps(cron)
    assert "SECRET" not in text and "s3cret" not in text
    spec = cron["spec"]["workflowSpec"]
    templates = {t["name"]: t for t in spec["templates"]}
    assert spec["onExit"] == "nbflow-exit"  # the notebook's own exit handler, and notify
    assert [t["template"] for t in templates["nbflow-exit"]["dag"]["tasks"]] == [
        "tidy-exit", "nbflow-notify"]
    container = templates["nbflow-notify"]["container"]
    assert container["command"] == ["python", "-m", "nbflow.notify"]
    assert container["image"] == "registry.example/nbflow-runner:1"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    args = container["args"]
    assert args[args.index("--status") + 1] == "{{workflow.status}}"
    assert args[args.index("--failures") + 1] == "{{workflow.failures}}"
    assert json.loads(args[args.index("--notify") + 1])["targets"] == [
        {"kind": "email", "to": ["ops@example.org"]}, {"kind": "slack", "name": "team"}]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert env == {
        "NBFLOW_SMTP_USER": {"name": "nbflow-notify", "key": "smtp-user", "optional": True},
        "NBFLOW_SMTP_PASSWORD": {"name": "nbflow-notify", "key": "smtp-password",
                                 "optional": True},
        "NBFLOW_WEBHOOK_TEAM": {"name": "nbflow-notify", "key": "webhook-team",
                                "optional": True},
    }


def test_submit_of_a_notifying_workflow_gets_the_exit_handler(
    make_notebook: Any, cluster_home: Path, kube: Any, validate_manifest: Any, capsys: Any
) -> None:
    nb = make_notebook([*SCHEDULED[:2], "%%workflow w --notify webhook:team\nfirst >> second"])
    assert main(["submit", str(nb)]) == 0
    name = capsys.readouterr().out.strip()
    wf = kube.state.objects[("workflows", "team", name)]
    validate_manifest(wf)
    assert wf["spec"]["onExit"] == "nbflow-notify"


def test_the_other_commands(make_notebook: Any, cluster_home: Path, kube: Any,
                            capsys: Any) -> None:
    nb = make_notebook(SCHEDULED)
    assert main(["schedule", "add", str(nb), "--backend", "argo"]) == 0
    key = ("cronworkflows", "team", "nightly")
    assert main(["schedule", "pause", "nightly", "--backend", "argo"]) == 0
    assert kube.state.objects[key]["spec"]["suspend"] is True
    assert main(["schedule", "resume", "nightly", "--backend", "argo"]) == 0
    assert kube.state.objects[key]["spec"]["suspend"] is False
    capsys.readouterr()
    assert main(["schedule", "list", "--backend", "argo", "-o", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["backend"], row["schedules"]) == ("nightly", "argo", ["0 2 * * *"])
    assert main(["schedule", "run-now", "nightly", "--backend", "argo"]) == 0
    run = capsys.readouterr().out.strip()
    wf = kube.state.objects[("workflows", "team", run)]
    assert wf["metadata"]["labels"]["workflows.argoproj.io/cron-workflow"] == "nightly"
    assert main(["schedule", "history", "nightly", "--backend", "argo"]) == 0
    assert [r["run"] for r in json.loads(capsys.readouterr().out)] == [run]
    assert main(["schedule", "remove", "nightly", "--backend", "argo"]) == 0
    assert key not in kube.state.objects


def test_compile_kind_cronworkflow_still_works(make_notebook: Any, nbflow_home: Path,
                                              capsys: Any, validate_manifest: Any) -> None:
    assert main(["compile", str(make_notebook(SCHEDULED)), "--kind", "cronworkflow"]) == 0
    cron = yaml.safe_load(capsys.readouterr().out)
    validate_manifest(cron)
    assert cron["spec"]["schedules"] == ["0 2 * * *"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--notify", "webhook:https://x.example/y"], "URLs are kept out"),
    (["--history", "three"], "--history 'three': expected N/M"),
    (["--cron", "every day"], "expected 5 cron fields"),
])
def test_errors_are_one_line(make_notebook: Any, cluster_home: Path, kube: Any, capsys: Any,
                             argv: list[str], message: str) -> None:
    nb = make_notebook(SCHEDULED)
    assert main(["schedule", "add", str(nb), "--backend", "argo", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
