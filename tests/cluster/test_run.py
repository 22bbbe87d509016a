"""Submitting notebooks' workflows and the cluster run object: status, logs, notebooks, retry."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from nbflow.cluster.options import load_cluster_config
from nbflow.cluster.run import ClusterRun, open_cluster_run
from nbflow.cluster.submit import build_manifest, submit_workflow
from nbflow.config import load_config
from nbflow.errors import ManifestError, NbflowError
from nbflow.model import Task, Template, Workflow
from nbflow.notebook.extract import read_notebook
from nbflow.widget import graph as run_graph


def workflow_of(make_notebook: Any, pipeline: str, name: str | None = None) -> Workflow:
    return read_notebook(make_notebook(pipeline)).workflow(name)


def test_submit_follows_the_run_like_a_local_one(
    make_notebook: Any, cluster_home: Path, kube: Any, argo: Any
) -> None:
    progress = io.StringIO()
    run = submit_workflow(workflow_of(make_notebook, "chain"), parameters={"scale": 2.0},
                          progress=progress, wait=True)
    assert isinstance(run, ClusterRun) and run.phase == "Succeeded", run.summary()
    assert run.tasks() == {"first": "Succeeded", "second": "Succeeded", "third": "Succeeded"}
    lines = progress.getvalue().splitlines()
    assert lines[0].endswith(f"run {run.id} started") and lines[-1].endswith("Succeeded")
    assert any("second" in line and "Running" in line for line in lines)
    assert run.logs("second") == "==> second (Succeeded) <==\nsecond says hello\n"
    assert run.namespace == "team" and "namespace team" in run.summary()
    # what was submitted: the runner image, the parameter, hardened pods
    stored = kube.state.objects[("workflows", "team", run.id)]
    spec = stored["spec"]
    assert spec["arguments"]["parameters"] == [{"name": "scale", "value": "2.0"}]
    assert spec["securityContext"]["runAsNonRoot"] is True
    step = next(t for t in spec["templates"] if t["name"] == "second")
    assert step["container"]["image"] == "registry.example/nbflow-runner:1"
    assert step["container"]["securityContext"]["readOnlyRootFilesystem"] is True
    # the run store knows it: status and logs work later, from another process
    again = open_cluster_run(run.id, config=load_config())
    assert isinstance(again, ClusterRun) and again.phase == "Succeeded"
    assert again.workflow == stored
    saved = json.loads((cluster_home / "runs" / run.id / "run.json").read_text())
    assert saved["backend"] == "argo" and saved["namespace"] == "team"
    assert saved["artifact_root"].startswith("file://")


def test_failed_step_shows_its_notebook_error_and_retry_finishes_the_run(
    make_notebook: Any, cluster_home: Path, kube: Any, argo: Any, tmp_path: Path
) -> None:
    argo.outcomes = {"second": ["Failed"]}
    run = submit_workflow(workflow_of(make_notebook, "chain"), wait=True)
    assert run.phase == "Failed" and run.tasks()["third"] == "Omitted"
    (failure,) = run.failures()
    assert failure["task"] == "second" and failure["ename"] == "ZeroDivisionError"
    # the executed notebook came from the artifact repository
    assert Path(failure["notebook"]).is_relative_to(tmp_path / "bucket")
    assert run.notebook("second") == failure["notebook"]
    assert run.retry() is run
    run.wait(30)
    assert run.phase == "Succeeded" and run.tasks()["third"] == "Succeeded"
    assert len(kube.state.deleted_pods) == 1


def test_stop_a_cluster_run(
    make_notebook: Any, cluster_home: Path, kube: Any, argo: Any, eventually: Any
) -> None:
    argo.hold.set()
    run = submit_workflow(workflow_of(make_notebook, "chain"))
    assert run.live
    eventually(lambda: run.tasks().get("first") == "Running", what="the first step")
    run.stop()
    run.wait(30)
    assert run.phase == "Failed" and not run.live
    assert run.workflow["status"]["message"] == "Stopped with strategy 'Stop'"


def test_state_is_kept_when_the_cluster_is_unreachable(
    make_notebook: Any, cluster_home: Path, kube: Any, argo: Any, kubeconfig: Path
) -> None:
    run = submit_workflow(workflow_of(make_notebook, "chain"), wait=True)
    kube.close()
    kubeconfig.write_text(kubeconfig.read_text().replace(kube.url, "http://127.0.0.1:9"))
    again = open_cluster_run(run.id, config=load_config())
    assert again.phase == "Succeeded"
    assert again.stale and "cannot reach the Kubernetes API at http://127.0.0.1:9" in again.stale
    assert "last known state (cluster unreachable" in again.summary()
    again.client.close()


def test_runs_started_elsewhere_are_found_on_the_cluster(
    cluster_home: Path, client: Any, argo: Any, make_notebook: Any
) -> None:
    manifest, _ = build_manifest(workflow_of(make_notebook, "chain"), config=load_config(),
                                 cluster=load_cluster_config())
    created = client.create(manifest)  # e.g. by a CronWorkflow, or kubectl
    run = open_cluster_run(created["metadata"]["name"], config=load_config())
    assert run.wait(30).phase == "Succeeded"
    assert (cluster_home / "runs" / run.id / "run.json").is_file()


def test_without_an_artifact_root_notebooks_say_what_to_set(
    make_notebook: Any, nbflow_home: Path, kubeconfig: Path, kube: Any, argo: Any
) -> None:
    cfg = load_config()
    cluster = load_cluster_config(cfg, image="registry.example/runner:1")
    run = submit_workflow(workflow_of(make_notebook, "chain"), config=cfg, cluster=cluster,
                          wait=True)
    with pytest.raises(NbflowError, match="set c.ClusterConfig.artifact_root"):
        run.notebook("first")


def test_build_manifest_checks_and_fixes(make_notebook: Any, nbflow_home: Path) -> None:
    cfg = load_config()
    cluster = load_cluster_config(cfg)
    tolerant, warnings = build_manifest(workflow_of(make_notebook, "failing", "tolerant"),
                                        config=cfg, cluster=cluster)
    tasks = tolerant["spec"]["templates"][0]["dag"]["tasks"]
    assert [t.get("dependencies") for t in tasks] == [None, ["boom"], None]
    assert [w.message.split(",")[0] for w in warnings] == [
        "steps run in image 'python:3.11-slim'"
    ]
    with pytest.raises(ManifestError, match="-p nope: the workflow has no parameter 'nope'"):
        build_manifest(workflow_of(make_notebook, "chain"), config=cfg, cluster=cluster,
                       parameters={"nope": 1})
    with pytest.raises(ManifestError, match="the cluster would reject this workflow:\n  "
                                            "error: spec.podGC.strategy: podGC.strategy 'Often'"):
        build_manifest(workflow_of(make_notebook, "chain"), config=cfg,
                       cluster=load_cluster_config(cfg, pod_gc="Often"))
    wide = Workflow("wide", {"t": Template("t", source="x = 1")},
                    tuple(Task(f"t{i}", "t") for i in range(250)))
    nested, _ = build_manifest(wide, config=cfg, cluster=cluster)
    assert [t["name"] for t in nested["spec"]["templates"][0]["dag"]["tasks"]] == [
        "part-1", "part-2"
    ]


def test_recorded_cluster_run_tells_cluster_runs_from_local_ones(
    make_notebook: Any, cluster_home: Path, argo: Any
) -> None:
    from nbflow.cluster.run import recorded_cluster_run
    from nbflow.engine.store import RunStore

    run = submit_workflow(workflow_of(make_notebook, "chain"), wait=True)
    found = recorded_cluster_run(None, config=load_config())  # the most recent run
    assert isinstance(found, ClusterRun) and found.id == run.id and found.phase == "Succeeded"
    local = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
             "metadata": {"name": "local-abcde"}, "spec": {}}
    RunStore(load_config().runs_dir).create(local, {"artifact_root": "file:///tmp"})
    assert recorded_cluster_run("local-abcde", config=load_config()) is None


def test_the_live_graph_follows_a_cluster_run(
    make_notebook: Any, cluster_home: Path, argo: Any, eventually: Any
) -> None:
    """The widget attaches to the watcher as it does to the local engine."""
    argo.hold.set()
    run = submit_workflow(workflow_of(make_notebook, "chain"))
    graph = run_graph(run)
    eventually(lambda: run.tasks().get("first") == "Running", what="the first step")
    argo.hold.clear()
    run.wait(30)
    graph.flush()
    phases = {gid: state["phase"] for gid, state in graph.nodes.items()}
    assert set(phases.values()) == {"Succeeded"} and len(phases) >= 3
    assert graph.info["phase"] == "Succeeded"
    assert graph._driver is run.driver  # subscribed through the run-driver protocol
