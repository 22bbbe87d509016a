"""The widget on real runs: live batched updates, details of a failed node, actions, papermill."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook
from nbflow.widget import graph
from nbflow.widget.state import graph_shape, task_states
from nbflow.widget.static import mimebundle
from nbflow.widget.widget import RunWidget

pytestmark = pytest.mark.kernel

PIPELINE = [
    "%%template flaky --outputs n --retries 2 --backoff 1s\n"
    "import nbflow\n"
    "if nbflow.attempt() == 0:\n    raise ConnectionError('first attempt fails')\n"
    "n = 3",
    # the items take long enough for a batch of updates (150 ms) to see them running
    "%%template fan --inputs n --outputs sq --param i=0\n"
    "import time\ntime.sleep(0.4)\nsq = {'i': i, 'sq': n * i}",
    "%%template boom --outputs x\nx = 1 / 0",
    "%%template after --inputs x\nprint(x)",
    "%%workflow live\nflaky >> [fan.map(i=range(3)), boom]\nboom >> after",
]
FAILING = [
    "%%template ok --outputs n\nn = 3",
    "%%template boom --inputs n --outputs x\nx = 1 / 0",
    "%%template after --inputs x\nprint(x)",
    "%%workflow failing\nok >> boom >> after",
]


class Recorder:
    """Stands in for the frontend: keeps every custom message the widget sends."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.initial: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __call__(self, content: dict[str, Any], buffers: Any = None) -> None:
        with self.lock:
            if content.get("type") == "patch":
                self.patches.append(json.loads(json.dumps(content["nodes"])))


def new_run(folder: Path, cells: list[str], config: Any = None) -> Any:
    """Start the only workflow of a notebook made of ``cells`` in ``folder`` (not waiting)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, folder / "pipeline.ipynb")
    wf = read_notebook(folder / "pipeline.ipynb").workflow()
    return api.run_workflow(wf, config=config, workdir=folder, base_dir=folder, wait=False)


def watched(run: Any) -> tuple[RunWidget, Recorder]:
    """The run's widget, its messages to the frontend recorded from now on."""
    widget = graph(run)
    recorder = Recorder()
    recorder.initial = json.loads(json.dumps(widget.nodes))
    widget.send = recorder  # type: ignore[method-assign]
    return widget, recorder


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real run of PIPELINE, watched from its start by a widget recording its messages.

    Shared by the tests of this module, which only read it (the run, the widget and the
    recorder); a test that acts on a run or selects a node uses one of its own.
    """
    config = load_config(home=str(tmp_path_factory.mktemp("nbflow-home")))
    run = new_run(tmp_path_factory.mktemp("nb"), PIPELINE, config)
    widget, recorder = watched(run)
    run.wait(timeout=120)
    widget.flush()
    yield run, widget, recorder
    widget.close()


@pytest.fixture()
def viewer(live_run: Any) -> Any:
    """Another widget on the ended shared run, for a test to select nodes in."""
    widget = RunWidget(live_run[0])
    yield widget
    widget.close()


def test_live_updates_are_batched_and_hold_only_changes(live_run: Any) -> None:
    run, widget, recorder = live_run
    assert run.phase == "Failed", run.summary()
    assert recorder.patches, "no update reached the frontend"
    seen = dict(recorder.initial)  # what the frontend got with the widget
    for patch in recorder.patches:
        assert patch and set(patch) <= set(seen)
        for task, state in patch.items():
            assert seen[task] != state, f"{task}: an unchanged state was sent again"
            seen[task] = state
    # the frontend's view, rebuilt from the patches, is the final state
    final = task_states(run.workflow, graph_shape(run.workflow))
    assert seen == final == widget.nodes
    assert {k: v["phase"] for k, v in final.items()} == {
        "flaky": "Succeeded", "fan": "Succeeded", "boom": "Failed", "after": "Omitted",
    }
    assert final["flaky"]["attempt"] == "2/3"
    assert final["fan"]["counts"] == {"Succeeded": 3} and final["fan"]["total"] == 3


def test_backoff_was_shown_while_waiting(live_run: Any) -> None:
    _, _, recorder = live_run
    waits = [p["flaky"] for p in recorder.patches if p.get("flaky", {}).get("backoff")]
    assert waits, "the 1 s backoff before the second attempt was never shown"
    assert waits[0]["backoff"] == "1s" and waits[0]["attempt"] == "2/3"
    assert waits[0]["phase"] == "Running"


def test_group_counts_went_through_running(live_run: Any) -> None:
    _, _, recorder = live_run
    counts = [p["fan"]["counts"] for p in recorder.patches if "counts" in p.get("fan", {})]
    assert counts[-1] == {"Succeeded": 3}
    assert any(c.get("Running") or c.get("Pending") for c in counts)


def test_details_of_the_failed_node(live_run: Any, viewer: RunWidget) -> None:
    run, _, _ = live_run
    widget = viewer
    widget.selected = {"task": "boom", "node": None}
    details = widget.details
    assert details["task"] == "boom" and details["phase"] == "Failed"
    assert details["message"].startswith("ZeroDivisionError")
    error = details["error"]
    assert error["ename"] == "ZeroDivisionError"
    assert "ZeroDivisionError" in error["traceback"] and "1 / 0" in error["traceback"]
    assert error["source"].strip() == "x = 1 / 0"
    # one number for the failing cell: the message's, the pane's and the traceback's
    cell = error["cell"]
    assert details["message"].endswith(f"(cell {cell})")
    assert f"Cell In[{cell}]" in error["traceback"]
    assert Path(details["notebook"]).is_file()
    assert details["notebook"] == run.notebook("boom")
    assert "ZeroDivisionError" in details["log_tail"]
    html = widget.render_notebook(details["node"])
    assert "division by zero" in html and "<script" not in html


def test_details_of_a_group_its_items_and_outputs(viewer: RunWidget) -> None:
    widget = viewer
    widget.selected = {"task": "fan", "node": None}
    group = widget.details
    assert group["kind"] == "group" and group["items_total"] == 3
    assert [i["label"] for i in group["items"]] == ["0: i=0", "1: i=1", "2: i=2"]
    widget.selected = {"task": "fan", "node": group["items"][2]["id"]}
    item = widget.details
    assert item["kind"] == "pod" and item["parameters"] == [{"name": "i", "value": "2"}]
    (sq,) = item["outputs"]
    assert sq["name"] == "sq" and sq["format"] == "json" and sq["size"] > 0
    assert json.loads(sq["preview"]["text"]) == {"i": 2, "sq": 6}
    assert item["inputs"][0]["name"] == "n"


def test_details_of_a_retried_task_list_its_attempts(viewer: RunWidget) -> None:
    widget = viewer
    widget.selected = {"task": "flaky", "node": None}
    details = widget.details
    assert [(a["label"], a["phase"]) for a in details["attempts"]] == [
        ("flaky(0)", "Failed"), ("flaky(1)", "Succeeded"),
    ]
    assert details["error"] is None  # it succeeded in the end
    assert len(details["notebooks"]) == 2


def test_static_fallback_of_the_widget_and_the_run(live_run: Any) -> None:
    run, widget, _ = live_run
    data, _ = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "<svg" in data["text/html"] and "✖ Failed" in data["text/html"]
    assert "boom" in data["text/plain"]
    bundle = mimebundle(run)  # what IPython shows for the run object itself
    assert bundle["text/html"] == data["text/html"]
    assert graph(run) is widget  # one live widget per run object


def test_retry_action_reruns_the_failed_task_and_is_followed(tmp_path: Path) -> None:
    run = new_run(tmp_path, FAILING)
    run.wait(timeout=60)
    widget, recorder = watched(run)
    try:
        assert widget.nodes["boom"]["phase"] == "Failed"
        assert widget.actions == ["retry"]  # ended: no stop; a failed local run can be retried
        first_engine = run.driver.engine
        # the cells as the kernel has them now: boom's was fixed
        import nbformat

        nb = nbformat.read(tmp_path / "pipeline.ipynb", as_version=4)
        nb.cells[1].source = "%%template boom --inputs n --outputs x\nx = n"
        nbformat.write(nb, tmp_path / "edited.ipynb")
        widget.workflow_source = lambda: read_notebook(tmp_path / "edited.ipynb").workflow()
        widget.act("retry")
        assert "the cells of boom changed since" in widget.notice  # it runs the old code
        assert widget.run is run and run.driver.engine is not first_engine  # a new engine goes on
        widget.run.wait(timeout=60)
        widget.flush()
        assert widget.run.phase == "Failed"
        assert widget.nodes["boom"]["phase"] == "Failed"
        assert widget.nodes["ok"]["phase"] == "Succeeded"  # kept, not run again
        assert recorder.patches  # the new engine's changes reached the frontend
        with pytest.raises(Exception, match="not available"):
            widget.act("stop")
    finally:
        widget.close()


def test_stop_action_on_a_live_run(make_notebook: Any, nbflow_home: Path) -> None:
    path = make_notebook(["%%template slow\nimport time\ntime.sleep(60)", "%%workflow w\nslow"])
    wf = read_notebook(path).workflow("w")
    run = api.run_workflow(wf, workdir=path.parent, base_dir=path.parent, wait=False)
    widget = RunWidget(run)
    try:
        assert "stop" in widget.actions
        widget.act("stop")
        run.wait(timeout=60)
        widget.flush()
        assert run.phase == "Failed" and widget.info["phase"] == "Failed"
        assert "stop" not in widget.actions
    finally:
        widget.close()


def test_demo_notebook_under_papermill_keeps_the_final_graph(
    nbflow_home: Path, tmp_path: Path
) -> None:
    import papermill

    out = tmp_path / "demo.out.ipynb"
    papermill.execute_notebook(
        str(Path(__file__).parent / "notebooks" / "demo.ipynb"),
        str(out),
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs") or []]
    # executed without a frontend: the static picture, no widget (nor its code and state)
    data = [o.get("data", {}) for o in outputs]
    assert not [d for d in data if "application/vnd.jupyter.widget-view+json" in d]
    assert "widgets" not in nb["metadata"]
    graphs = [d for d in data if "nbflow-static" in "".join(d.get("text/html", ""))]
    assert len(graphs) == 2  # %nbflow run's, then nbflow.show(...)'s
    first = "".join(graphs[0]["text/html"])
    # updated when the run ended: the saved output shows the final phases, not "Pending"
    assert "✖ Failed" in first and "⊘ Omitted" in first and "Pending" not in first
    assert "<svg" in first
    assert "run ended: Failed" in json.dumps(outputs)


def test_a_20_task_graph_costs_little_in_an_executed_notebook(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path
) -> None:
    """``nbconvert --execute``: under 50 KB for the graph; its HTML export shows the SVG."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    templates = [f"%%template t{i}\nx{i} = {i}" for i in range(20)]
    chain = "\n".join(f"t{i} >> t{i + 1}" for i in range(19))
    base = make_notebook(["%load_ext nbflow", *templates], name="base.ipynb")
    full = make_notebook(["%load_ext nbflow", *templates, f"%%workflow w\n{chain}",
                          "run = %nbflow run w"], name="full.ipynb")
    sizes = {}
    for path in (base, full):
        nb = nbformat.read(path, as_version=4)
        resources = {"metadata": {"path": str(tmp_path)}}
        ExecutePreprocessor(kernel_name="python3").preprocess(nb, resources)
        nbformat.write(nb, path)
        sizes[path.name] = path.stat().st_size
        executed = nb
    cost = sizes["full.ipynb"] - sizes["base.ipynb"]
    assert 0 < cost < 50_000, sizes
    page, _ = HTMLExporter().from_notebook_node(executed)
    assert page.count('class="nbflow-static"') == 1
    static = page[page.index('class="nbflow-static"'):]
    assert "<svg" in static[:2000] and "✔ Succeeded" in static


def test_log_tail_separates_the_executions_of_a_retried_step(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path
) -> None:
    path = make_notebook([
        "%%template flaky --outputs n\nfrom pathlib import Path\nprint('attempt')\n"
        "if Path('broken').exists():\n    raise RuntimeError('broken')\nn = 1",
        "%%workflow w\nflaky",
    ])
    (tmp_path / "broken").write_text("")
    wf = read_notebook(path).workflow("w")
    run = api.run_workflow(wf, workdir=tmp_path, base_dir=tmp_path)
    assert run.phase == "Failed"
    (tmp_path / "broken").unlink()
    run = api.retry_run(run.id)
    assert run.phase == "Succeeded"
    widget = RunWidget(run)
    try:
        widget.selected = {"task": "flaky", "node": None}
        tail = widget.details["log_tail"]
        first, _, second = tail.partition("──── run again · ")
        assert "RuntimeError" in first and "attempt" in first
        assert second and "attempt" in second and "RuntimeError" not in second
    finally:
        widget.close()
