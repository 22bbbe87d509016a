"""Graphs laid out ahead of their first view, and kept in the home across server starts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nbflow.engine.store import RunStore
from nbflow.widget import layout
from nbflow.widget.state import graph_shape


def kept(home: Path, run_id: str) -> Path:
    """The file the server keeps the layout of run ``run_id``'s graph in."""
    workflow, _ = RunStore(home / "runs").load(run_id)
    return layout._file(home / "layouts", layout.dot_source(graph_shape(workflow)))


async def test_runs_are_laid_out_before_anyone_opens_them(
    call: Any, past_runs: dict[str, str], nbflow_home: Path, tmp_path: Path, until: Any
) -> None:
    runs = nbflow_home / "runs"
    later = past_runs["fanout"]
    shutil.move(runs / later, tmp_path / later)  # not there when the server starts
    assert not (nbflow_home / "layouts").exists()
    await call("GET", "runs")  # the server starts watching the home
    for name in ("chain", "failing"):
        await until(lambda n=name: kept(nbflow_home, past_runs[n]).exists(), f"{name} laid out")
    shutil.move(tmp_path / later, runs / later)  # a run of another process appears
    path = await until(lambda: kept(nbflow_home, later).exists() and kept(nbflow_home, later))
    workflow, _ = RunStore(runs).load(later)
    assert set(json.loads(path.read_text())["nodes"]) == {n.id for n in graph_shape(workflow).nodes}


async def test_a_layout_kept_by_an_earlier_server_is_served_without_dot(
    call: Any,
    past_runs: dict[str, str],
    nbflow_home: Path,
    until: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = past_runs["chain"]
    _, first = await call("GET", "runs", run_id, "graph")
    assert first["positions"]["nodes"]
    assert json.loads(kept(nbflow_home, run_id).read_text()) == first["positions"]
    # as after a restart on a machine without Graphviz: only the kept file can answer
    monkeypatch.setattr(layout, "_cache", {})
    monkeypatch.setenv("PATH", str(nbflow_home / "no-programs"))
    _, again = await call("GET", "runs", run_id, "graph")
    assert again["positions"] == first["positions"]


async def test_a_run_started_here_is_laid_out_while_it_runs(
    call: Any, notebook: Any, nbflow_home: Path, jp_root_dir: Path, until: Any, run_phase: Any
) -> None:
    notebook("gated")
    _, started = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    run_id = started["id"]
    try:
        path = await until(
            lambda: (
                (nbflow_home / "runs" / run_id / "workflow.json").exists()
                and kept(nbflow_home, run_id).exists()
                and kept(nbflow_home, run_id)
            ),
            "the running run's graph laid out",
        )
        assert set(json.loads(path.read_text())["nodes"]) == {"start", "wait"}
        assert (await run_phase(run_id))[0] == "Running"  # before its end, and before any view
    finally:
        (jp_root_dir / "go.flag").write_text("go")
    await until(lambda: _ended(run_phase, run_id), "the run to end")


async def _ended(run_phase: Any, run_id: str) -> bool:
    phase, _ = await run_phase(run_id)
    return phase not in ("Running", "Pending")


def test_work_done_ahead_runs_at_a_lower_cpu_priority() -> None:
    import os
    import threading

    from nbflow.server.service import _background

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = niceness()
    seen: list[int] = []

    def layout_thread() -> None:
        _background()
        seen.append(niceness())

    thread = threading.Thread(target=layout_thread)
    thread.start()
    thread.join()
    assert seen == [min(before + 10, 19)]
    assert niceness() == before  # the thread answering requests keeps its priority
