"""End-to-end runs on both local engines: real kernels, real papermill, a real artifact folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("both_engines")]


def run_pipeline(
    make_notebook: Any, pipeline: str | list[str], workflow: str | None = None, **kwargs: Any
) -> Any:
    path = make_notebook(pipeline)
    wf = read_notebook(path).workflow(workflow)
    return api.run_workflow(
        wf, config=load_config(), workdir=path.parent, base_dir=path.parent, **kwargs
    )


def pod_phases(run: Any, task: str) -> list[str]:
    return [p["phase"] for p in run.pods(task)]


def test_chain_runs_in_order_and_keeps_everything(
    make_notebook: Any, nbflow_home: Path, eventually: Any
) -> None:
    run = run_pipeline(make_notebook, "chain")
    assert run.phase == "Succeeded", run.summary()
    assert run.tasks() == {"first": "Succeeded", "second": "Succeeded", "third": "Succeeded"}
    assert run.outputs("third") == {"label": "y=4.0"}  # math came from the %%setup cell
    # artifacts under <workflow>/<run>/<task>/<name>, executed notebooks beside them
    root = nbflow_home / "artifacts" / "chain" / run.id
    assert (root / "first" / "x" / "nbflow.json").is_file()
    assert (root / "second" / "notebook.ipynb").is_file()
    nb = json.loads(Path(run.notebook("second")).read_text())
    tags = [c["metadata"].get("tags", []) for c in nb["cells"]]
    assert ["injected-parameters"] in tags  # papermill injected the parameters
    # the run record outlives the process: reload it from the store
    again = api.get_run(run.id, config=load_config())
    assert again.phase == "Succeeded" and again.tasks() == run.tasks()
    assert api.get_run(config=load_config()).id == run.id  # most recent
    assert "y=4.0" in again.logs("third")
    # the pods' scratch folders (staged inputs, outputs) are gone soon after the run has ended:
    # a helper process deletes them
    pods = nbflow_home / "runs" / run.id / "pods"
    eventually(lambda: list(pods.iterdir()) == [], what="the pods' folders to be deleted")


def test_node_tree_has_argo_shape(make_notebook: Any, nbflow_home: Path) -> None:
    from nbflow.engine.nodes import node_id

    run = run_pipeline(make_notebook, "chain")
    nodes = run.nodes
    root = nodes[run.id]
    assert root["type"] == "DAG" and root["templateName"] == "main"
    first = nodes[node_id(run.id, f"{run.id}.first")]
    assert first["name"] == f"{run.id}.first" and first["displayName"] == "first"
    assert first["boundaryID"] == run.id and first["type"] == "Pod"
    assert root["children"] == [first["id"]]
    assert first["outputs"]["parameters"][0] == {"name": "x", "value": "16"}
    assert first["outputs"]["exitCode"] == "0"
    assert {"startedAt", "finishedAt"} <= set(first)
    assert run.workflow["status"]["phase"] == "Succeeded"


def test_diamond(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(make_notebook, "diamond")
    assert run.phase == "Succeeded", run.summary()
    assert run.outputs("join") == {"total": 36}


def test_fan_out_of_eight_with_fan_in_in_item_order(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(make_notebook, "fanout")
    assert run.phase == "Succeeded", run.summary()
    assert len(run.pods("featurize")) == 8
    out = run.outputs("train")
    assert out == {"total": sum(i * i for i in range(8)), "shards": list(range(8))}
    feats = run.outputs("featurize")["feats"]
    assert [f["shard"] for f in feats] == list(range(8))
    group = run.task_nodes()["featurize"]
    assert group["type"] == "TaskGroup" and len(group["children"]) == 8


def test_whole_notebook_template_with_parameters(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path
) -> None:
    import nbformat

    report = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("title = 'draft'\nscale = 1")
    params.metadata["tags"] = ["parameters"]
    report.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import nbflow\nfrom pathlib import Path\n"
            "Path('report.txt').write_text(f'{title}: {n * scale}')\n"
            "nbflow.output('summary', f'{title}: {n * scale}')\n"
            "nbflow.output('file', Path('report.txt'))"
        ),
    ]
    nbformat.write(report, tmp_path / "report.ipynb")
    run = run_pipeline(
        make_notebook,
        [
            "%%template make --outputs n\nn = 5",
            "%template report --notebook report.ipynb --inputs n --outputs summary,file",
            "%%workflow nb\nmake >> report(title='final')",
        ],
    )
    assert run.phase == "Succeeded", run.summary()
    out = run.outputs("report")
    assert out["summary"] == "final: 5"
    assert Path(out["file"]).read_text() == "final: 5"


def test_flaky_step_succeeds_on_retry_and_keeps_each_attempt(
    make_notebook: Any, nbflow_home: Path
) -> None:
    run = run_pipeline(make_notebook, "options")
    assert run.phase == "Succeeded", run.summary()
    assert pod_phases(run, "flaky") == ["Failed", "Failed", "Succeeded"]
    flaky = run.task_nodes()["flaky"]
    assert flaky["type"] == "Retry"
    notebooks = run.notebooks("flaky")
    assert len(notebooks) == 3 and all(Path(p).is_file() for p in notebooks)
    assert "flaky failure 0" in Path(notebooks[0]).read_text()
    assert run.pods("flaky")[0]["message"] == "RuntimeError: flaky failure 0 (cell 1)"
    # accuracy = 0.4 + 0.6: report runs, the fallback is skipped, the exit handler always runs
    assert run.tasks()["report"] == "Succeeded"
    assert run.tasks()["fallback"] == "Skipped"
    assert run.tasks()["onExit"] == "Succeeded"
    assert "done" in run.logs("onExit")


def test_failing_step_fails_run_and_keeps_traceback(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(make_notebook, "failing", "failing")
    assert run.phase == "Failed"
    assert run.tasks() == {"boom": "Failed", "after": "Omitted"}
    assert run.pods("after") == []  # downstream never ran
    err = run.error("boom")
    assert err is not None and err["ename"] == "ZeroDivisionError"
    assert "1 / 0" in err["traceback"] or "division by zero" in err["traceback"]
    assert Path(err["notebook"]).is_file()
    (failure,) = run.failures()
    assert failure["task"] == "boom" and failure["evalue"] == "division by zero"


def test_continue_on_fail_lets_downstream_run(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(make_notebook, "failing", "tolerant")
    assert run.tasks() == {"boom": "Failed", "tail": "Succeeded", "ok": "Succeeded"}
    assert run.phase == "Succeeded"


def test_workflow_parameter_reaches_every_template(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(make_notebook, "chain", parameters={"scale": 2.5})
    assert run.outputs("second") == {"y": 10.0}
    assert run.workflow["spec"]["arguments"]["parameters"] == [{"name": "scale", "value": "2.5"}]


def test_output_that_cannot_be_saved_names_variable(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(
        make_notebook,
        [
            "%%template bad --outputs f\nimport socket\nf = socket.socket()",
            "%%workflow w\nbad",
        ],
    )
    assert run.phase == "Failed"
    message = run.pods("bad")[0]["message"]
    assert "'f'" in message and "socket" in message and "'bad'" in message


def test_step_timeout_kills_the_step(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(
        make_notebook,
        [
            "%%template slow --timeout 2s --no-run\nimport time\ntime.sleep(60)",
            "%%workflow w\nslow",
        ],
    )
    assert run.phase == "Failed"
    assert (
        run.pods("slow")[0]["message"]
        == "Pod was active on the node longer than the specified deadline"
    )


def test_run_in_background_then_wait(make_notebook: Any, nbflow_home: Path) -> None:
    run = run_pipeline(make_notebook, "diamond", wait=False)
    assert run.wait(timeout=120).phase == "Succeeded"
