"""The shared interfaces reach cluster runs: nbflow status/logs/stop, api.get_run, %nbflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbflow import api
from nbflow.cli import main
from nbflow.cluster.run import ClusterRun
from nbflow.cluster.submit import submit_workflow
from nbflow.notebook.extract import read_notebook


def test_cli_and_api_find_a_submitted_run(make_notebook: Any, cluster_home: Path, kube: Any,
                                          argo: Any, capsys: Any) -> None:
    wf = read_notebook(make_notebook("chain")).workflow()
    run = submit_workflow(wf, wait=True)
    assert run.phase == "Succeeded", run.summary()
    loaded = api.get_run(run.id)
    assert isinstance(loaded, ClusterRun) and loaded.tasks() == run.tasks()
    assert main(["status", run.id]) == 0
    assert f"run {run.id}: Succeeded" in capsys.readouterr().out
    assert main(["logs", run.id, "second"]) == 0
    assert "second says hello" in capsys.readouterr().out
    # a finished cluster run is not re-run locally by rerun
    assert main(["rerun", run.id, "--from", "second"]) == 2
    assert "on Kubernetes use nbflow k8s retry" in capsys.readouterr().err
