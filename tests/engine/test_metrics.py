"""Argo's custom metrics on the operator, and their Prometheus text (``nbflow metrics``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from nbflow.engine.metrics import render
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodResult
from nbflow.vocab import Phase

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def metric(name: str, kind: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "help": f"{name} help", **kind, **extra}


def test_template_and_workflow_metrics_in_prometheus_text() -> None:
    step = {
        "name": "step",
        "container": {"image": "x", "command": ["true"]},
        "outputs": {"parameters": [{"name": "n", "valueFrom": {"path": "/n"}}]},
        "metrics": {"prometheus": [
            metric("step_seconds", {"gauge": {"value": "{{duration}}"}},
                   labels=[{"key": "status", "value": "{{status}}"}]),
            metric("step_runs_total", {"counter": {"value": "1"}},
                   labels=[{"key": "status", "value": "{{status}}"}]),
            metric("step_value", {"histogram": {"value": "{{outputs.parameters.n}}",
                                                "buckets": [1, 5]}},
                   when="{{status}} == Succeeded"),
        ]},
    }
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "t", "template": "step", "withItems": [1, 2, 3]}]}}
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf"},
          "spec": {"entrypoint": "main", "templates": [dag, step], "metrics": {"prometheus": [
              metric("wf_runs_total", {"counter": {"value": "1"}},
                     labels=[{"key": "status", "value": "{{workflow.status}}"}])]}}}
    op = Operator(wf)
    reqs = op.reconcile(T0)
    ends = [(Phase.SUCCEEDED, "3"), (Phase.SUCCEEDED, "7"), (Phase.FAILED, "0")]
    for req, (phase, n) in zip(reqs, ends):
        outputs = {"parameters": [{"name": "n", "value": n}]}
        op.pod_finished(req.node_id, PodResult(phase, outputs=outputs), T0 + timedelta(seconds=2))
    op.reconcile(T0 + timedelta(seconds=3))
    assert op.phase == "Failed"
    text = render(op.status)
    assert 'step_seconds{status="Succeeded"} 2' in text
    assert 'step_runs_total{status="Succeeded"} 2\nstep_runs_total{status="Failed"} 1' in text \
        or ('step_runs_total{status="Failed"} 1\nstep_runs_total{status="Succeeded"} 2' in text)
    assert "# TYPE step_value histogram" in text
    assert 'step_value_bucket{le="1"} 0\nstep_value_bucket{le="5"} 1\n' in text
    assert 'step_value_bucket{le="+Inf"} 2\nstep_value_sum 10\nstep_value_count 2' in text
    assert 'wf_runs_total{status="Failed"} 1' in text
    assert text.startswith("# HELP step_runs_total step_runs_total help\n")


def test_nbflow_metrics_prints_a_runs_metrics(nbflow_home: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from nbflow import api
    from nbflow.config import load_config

    step = {"name": "main", "container": {"image": "x", "command": ["true"]},
            "metrics": {"prometheus": [metric("ran_total", {"counter": {"value": "1"}})]}}
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"generateName": "m-"}, "spec": {"entrypoint": "main", "templates": [step]}}
    run = api.run_workflow(wf, config=load_config(cache=False), workdir=tmp_path, host_exec=True)
    proc = subprocess.run([sys.executable, "-m", "nbflow.cli", "metrics", run.id],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "# HELP ran_total ran_total help\n# TYPE ran_total counter\nran_total 1\n"
