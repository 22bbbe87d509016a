"""The graph model derived from a Workflow dict: shape, node states, layout, static fallback."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from nbflow.widget import layout
from nbflow.widget.state import format_seconds, graph_shape, run_info, task_states, tasks_of
from nbflow.widget.static import static_html, table_html

from .conftest import RUN, node, workflow


def test_shape_has_tasks_groups_exit_and_dependency_edges(running_workflow: dict) -> None:
    shape = graph_shape(running_workflow)
    kinds = {n.id: n.kind for n in shape.nodes}
    assert kinds == {
        "extract": "task", "train": "task", "score": "group", "report": "task",
        "notify": "task", "onExit": "exit",
    }
    assert set(shape.edges) == {
        ("extract", "train", "dep"),
        ("extract", "score", "dep"),  # from `depends: extract.Succeeded`
        ("train", "report", "dep"),  # from `dependencies`
        ("score", "report", "dep"),
        ("report", "notify", "dep"),
        ("notify", "onExit", "exit"),  # the exit handler after the leaves
    }
    assert {n.id: n.retry_limit for n in shape.nodes}["train"] == 3


def test_states_phases_retries_backoff_groups_and_cache(running_workflow: dict) -> None:
    states = task_states(running_workflow, graph_shape(running_workflow))
    assert states["extract"]["phase"] == "Succeeded"
    assert states["extract"]["duration"] == "1m05s"
    # waiting out the backoff before its third attempt (of 1 + limit 3)
    assert states["train"]["phase"] == "Running"
    assert states["train"]["attempt"] == "3/4"
    assert states["train"]["backoff"] == "4s"  # from "Backoff for 4 seconds", with its unit
    assert states["train"]["duration"] == ""  # not finished
    group = states["score"]
    assert group["counts"] == {"Running": 1, "Succeeded": 1, "Failed": 1}
    assert group["total"] == 3 and group["cached"] == 1
    # no node yet: pending, drawn all the same
    assert states["report"]["phase"] == "Pending" and states["onExit"]["phase"] == "Pending"


def test_retry_shows_attempts_only_once_retried() -> None:
    one = node("train(0)", "Pod", "Running")
    wf = workflow([node("train", "Retry", "Running", children=[one["id"]]), one])
    assert task_states(wf, graph_shape(wf))["train"]["attempt"] == ""
    two = node("train(1)", "Pod", "Running")
    wf = workflow([node("train", "Retry", "Running", children=[one["id"], two["id"]]), one, two])
    state = task_states(wf, graph_shape(wf))["train"]
    assert state["attempt"] == "2/4" and state["backoff"] == ""  # running, not waiting


def test_skipped_and_omitted_nodes() -> None:
    wf = workflow(
        [
            node("report", "Skipped", "Omitted", message="omitted: depends condition not met"),
            node("notify", "Skipped", "Skipped", message="when 'false' evaluated false"),
        ]
    )
    states = task_states(wf, graph_shape(wf))
    assert states["report"]["phase"] == "Omitted"
    assert states["notify"]["phase"] == "Skipped"
    assert "evaluated false" in states["notify"]["message"]


def test_a_map_of_ten_thousand_items_is_one_node_with_counts() -> None:
    phases = ["Succeeded"] * 9000 + ["Failed"] * 10 + ["Running"] * 990
    items = [node(f"score({i}:{i})", "Pod", p) for i, p in enumerate(phases)]
    group = node("score", "TaskGroup", "Running", children=[i["id"] for i in items])
    wf = workflow([group, *items])
    shape = graph_shape(wf)
    assert [n.id for n in shape.nodes if n.kind == "group"] == ["score"]
    state = task_states(wf, shape)["score"]
    assert state["total"] == 10_000
    assert state["counts"] == {"Running": 990, "Succeeded": 9000, "Failed": 10}
    assert len(json.dumps(state)) < 400  # one readable node, whatever the number of items


def test_changed_nodes_map_to_their_graph_node() -> None:
    names = [
        f"{RUN}.train(1)", f"{RUN}.score(3:3)", f"{RUN}.score(3:3)(0)", f"{RUN}.onExit.cleanup",
        RUN, f"{RUN}.extract",
    ]
    assert tasks_of(RUN, names) == {"train", "score", "onExit", RUN, "extract"}


def test_run_info_names_the_failed_child() -> None:
    failed = node("extract", "Pod", "Failed")
    wf = workflow([failed], phase="Failed", message=f"child '{failed['id']}' failed")
    info = run_info(wf)
    assert info["phase"] == "Failed" and info["message"] == "child 'extract' failed"


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0, 42.4, 185, 7260)] == ["0s", "42s", "3m05s", "2h01m"]


def test_a_single_template_workflow_is_one_node() -> None:
    wf = {
        "metadata": {"name": RUN},
        "spec": {"entrypoint": "hello", "templates": [{"name": "hello", "container": {}}]},
        "status": {"phase": "Succeeded", "nodes": {RUN: node("", "Pod", "Succeeded")}},
    }
    shape = graph_shape(wf)
    assert [(n.id, n.node_name) for n in shape.nodes] == [("hello", RUN)]
    assert task_states(wf, shape)["hello"]["phase"] == "Succeeded"


# ------------------------------------------------------------------ layout


def test_dot_layout_positions_every_node_once(running_workflow: dict) -> None:
    assert shutil.which("dot"), "the Graphviz 'dot' program is needed (apt-get install graphviz)"
    shape = graph_shape(running_workflow)
    source = layout.dot_source(shape)
    laid = layout.layout_with_dot(source)
    assert laid is not None
    assert set(laid["nodes"]) == {n.id for n in shape.nodes}
    x, y, w, h = laid["nodes"]["extract"]
    assert (round(w), round(h)) == (166, 56)  # the fixed node size, in points
    _, y_report, _, _ = laid["nodes"]["report"]
    assert y < y_report  # top to bottom: extract above report
    assert {(e["from"], e["to"]) for e in laid["edges"]} == {(a, b) for a, b, _ in shape.edges}
    assert all(re.match(r"^M[\d.]+,[\d.]+( C[^A-Z]+)+ L", e["path"]) for e in laid["edges"])
    assert layout.layout_with_dot(source) is laid  # computed once per shape


def test_normalize_reads_graphviz_json() -> None:
    graph = {
        "bb": "0,0,100,200",
        "objects": [
            {"_gvid": 0, "name": "a", "pos": "50,180", "width": "1", "height": "0.5"},
            {"_gvid": 1, "name": "b", "pos": "50,20", "width": "1", "height": "0.5"},
        ],
        "edges": [{"tail": 0, "head": 1, "pos": "e,50,38 50,162 50,120 50,80 50,48"}],
    }
    out = layout.normalize(graph)
    assert out["nodes"]["a"] == [14.0, 2.0, 72.0, 36.0]  # y flipped: a is at the top
    assert out["edges"] == [
        {"from": "a", "to": "b", "path": "M50.0,38.0 C50.0,80.0 50.0,120.0 50.0,152.0 L50.0,162.0"}
    ]


# ------------------------------------------------------------------ static fallback


def test_static_svg_shows_phases_attempts_and_groups(running_workflow: dict) -> None:
    html = static_html(running_workflow)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count('class="node"') == 6
    assert "✖" not in svg.split("train")[0]  # extract did not fail
    assert "◐ Running" in svg and "attempt 3/4" in svg and "backoff 4" in svg
    assert "3 items" in svg  # the group node with its counts
    assert "#009e73" in svg and "#0072b2" in svg  # succeeded and running colours
    assert "<table" in html  # and the table, folded under the picture


def test_static_table_without_dot(running_workflow: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    html = static_html(running_workflow)
    assert "<svg" not in html
    rows = re.findall(r'<tr data-phase="(\w+)"', html)
    assert rows == ["Succeeded", "Running", "Running", "Pending", "Pending", "Pending"]
    assert "3/4" in html and "1m05s" in html


def test_table_escapes_messages() -> None:
    wf = workflow([node("extract", "Pod", "Failed", message="<script>alert(1)</script>")])
    shape = graph_shape(wf)
    html = table_html(shape, task_states(wf, shape))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_task_with_retries_shows_its_cached_result() -> None:
    hit = {"hit": True, "key": "k", "cacheName": "c"}
    attempt = node("train(0)", "Pod", "Succeeded", memoizationStatus=hit)
    retry = node("train", "Retry", "Succeeded", children=[attempt["id"]])
    states = task_states(workflow([retry, attempt]), graph_shape(workflow([])))
    assert states["train"]["cached"] == 1
    assert states["extract"]["cached"] == 0


def test_run_info_names_the_failed_child_of_a_run_with_underscores() -> None:
    wf = workflow([], phase="Failed")
    wf["metadata"]["name"] = "diabetes_broken-s72hf"
    child = {"id": "diabetes_broken-s72hf-3799764769", "displayName": "train", "phase": "Failed"}
    wf["status"]["nodes"] = {child["id"]: child}
    wf["status"]["message"] = "child 'diabetes_broken-s72hf-3799764769' failed"
    assert run_info(wf)["message"] == "child 'train' failed"


def test_item_names_read_as_the_user_wrote_them() -> None:
    from nbflow.engine.nodes import readable_name

    assert readable_name("summarize(0:_i:0,shard:0)") == "summarize(shard=0)"
    assert readable_name("w.fit(3:_i:3,a:1,b:x)(1)") == "w.fit(a=1, b=x)(1)"
    assert readable_name("fan(2:7)") == "fan(2:7)" and readable_name("train(1)") == "train(1)"


def test_notebook_view_shows_papermills_error_banner_as_text() -> None:
    from nbflow.widget.nbview import render_notebook

    banner = ('<span style="color:red; font-size:2em;">An Exception was encountered at '
              "'<a href=\"#papermill-error-cell\">In [4]</a>'.</span>")
    nb = {"cells": [{"cell_type": "markdown", "source": banner,
                     "metadata": {"tags": ["papermill-error-cell-tag"]}}]}
    page = render_notebook(json.dumps(nb))
    assert "An Exception was encountered at &#x27;In [4]&#x27;." in page
    assert "&lt;span" not in page and "<span" not in page


def test_a_stopped_step_and_run_read_stopped() -> None:
    stopped = node("extract", "Pod", "Failed", message="Stopped with strategy 'Stop'")
    wf = workflow([stopped], phase="Failed")
    wf["spec"]["shutdown"] = "Stop"
    states = task_states(wf, graph_shape(wf))
    assert states["extract"]["stopped"] and not states["train"]["stopped"]
    assert run_info(wf)["stopped"]
    assert "■ stopped" in static_html(wf)  # the static picture (dot is installed here)
    failed = workflow([node("extract", "Pod", "Failed", message="boom")], phase="Failed")
    assert not task_states(failed, graph_shape(failed))["extract"]["stopped"]
    assert not run_info(failed)["stopped"]


def test_when_conditions_are_on_the_graph() -> None:
    from nbflow.widget.state import readable_when

    wf = workflow([])
    assert graph_shape(wf).to_json()["nodes"][4] == {
        "id": "notify", "label": "notify", "template": "notify", "kind": "task", "when": "false"}
    expr = "{{tasks.check.outputs.parameters.ok}} == true && {{workflow.parameters.mode}} != x"
    assert readable_when(expr) == "check.ok == true && mode != x"


def test_run_duration_leaves_out_the_idle_time_before_a_retry() -> None:
    first = node("extract", "Pod", "Succeeded", finishedAt="2026-01-01T00:00:10Z")
    again = node("train", "Pod", "Succeeded", startedAt="2026-01-01T05:00:00Z",
                 finishedAt="2026-01-01T05:00:20Z")
    overlapping = node("score", "Pod", "Succeeded", startedAt="2026-01-01T05:00:05Z",
                       finishedAt="2026-01-01T05:00:25Z")
    root = node("", "DAG", "Succeeded", finishedAt="2026-01-01T05:00:25Z")
    wf = workflow([root, first, again, overlapping], phase="Succeeded",
                  finishedAt="2026-01-01T05:00:25Z")
    assert run_info(wf)["duration"] == "35s"  # 10 s, then 25 s five hours later
