"""Run summaries (nbflow/summary.py): workflow name, progress, duration, notebook path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbflow.engine.nodes import node_id
from nbflow.summary import notebook_path, progress, summarize


def _workflow(entry: dict[str, Any], nodes: dict[str, str], **status: Any) -> dict[str, Any]:
    run = "w-abcde"
    spec: dict[str, Any] = {"entrypoint": "main", "templates": [{"name": "main", **entry}]}
    if status.pop("on_exit", False):
        spec["onExit"] = "notify"
    return {
        "metadata": {"name": run, "generateName": "w-"},
        "spec": spec,
        "status": {
            **status,
            "nodes": {
                node_id(run, name): {"id": node_id(run, name), "name": name, "phase": phase}
                for name, phase in nodes.items()
            },
        },
    }


def test_progress_counts_the_graphs_tasks_in_a_final_phase() -> None:
    dag = {"dag": {"tasks": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    wf = _workflow(
        dag,
        {"w-abcde.a": "Succeeded", "w-abcde.b": "Skipped", "w-abcde.c": "Running"},
        on_exit=True,
    )
    assert progress(wf) == (2, 4)  # the exit handler counts, not yet run
    steps = {"steps": [[{"name": "s1"}], [{"name": "s2"}, {"name": "s3"}]]}
    wf = _workflow(steps, {"w-abcde[0].s1": "Succeeded", "w-abcde[1].s2": "Failed"})
    assert progress(wf) == (2, 3)
    assert progress(_workflow({"container": {}}, {"w-abcde": "Running"})) == (0, 1)


def test_summary_fields(tmp_path: Path) -> None:
    dag = {"dag": {"tasks": [{"name": "a"}]}}
    wf = _workflow(
        dag,
        {"w-abcde.a": "Failed"},
        phase="Failed",
        message="child failed",
        startedAt="2026-01-01T10:00:00Z",
        finishedAt="2026-01-01T10:01:30Z",
    )
    settings = {"notebook": str(tmp_path / "sub" / "nb.ipynb"), "workflow": "nightly"}
    assert summarize(wf, settings, live=False, root=tmp_path) == {
        "id": "w-abcde",
        "workflow": "nightly",
        "phase": "Failed",
        "message": "child failed",
        "startedAt": "2026-01-01T10:00:00Z",
        "finishedAt": "2026-01-01T10:01:30Z",
        "duration_s": 90.0,
        "notebook": "sub/nb.ipynb",
        "backend": "local",
        "progress": "1/1",
        "live": False,
    }
    pending = summarize(_workflow(dag, {}), {"backend": "argo"}, live=True)
    assert pending["phase"] == "Pending" and pending["duration_s"] is None
    assert (
        pending["workflow"] == "w" and pending["backend"] == "argo" and pending["notebook"] is None
    )


def test_notebook_paths_outside_the_root_stay_absolute(tmp_path: Path) -> None:
    assert notebook_path(str(tmp_path / "x.ipynb"), tmp_path / "root") == str(tmp_path / "x.ipynb")
    assert notebook_path(None, tmp_path) is None


def test_duration_is_the_time_steps_ran_not_the_idle_time_before_a_retry() -> None:
    dag = {"dag": {"tasks": [{"name": "a"}, {"name": "b"}]}}
    wf = _workflow(
        dag,
        {"w-abcde.a": "Succeeded", "w-abcde.b": "Succeeded"},
        phase="Succeeded",
        startedAt="2026-01-01T10:00:00Z",
        finishedAt="2026-01-01T15:00:20Z",  # retried five hours after it failed
    )
    nodes = wf["status"]["nodes"]
    times = {
        "w-abcde.a": ("2026-01-01T10:00:00Z", "2026-01-01T10:00:40Z"),
        "w-abcde.b": ("2026-01-01T15:00:00Z", "2026-01-01T15:00:20Z"),
    }
    for node in nodes.values():
        node["type"] = "Pod"
        node["startedAt"], node["finishedAt"] = times[node["name"]]
    assert summarize(wf, {}, live=False)["duration_s"] == 60.0
