"""Layouts kept across processes in a folder, and one ``dot`` per DOT text however many ask."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from nbflow.widget import layout


@pytest.fixture(autouse=True)
def _dot() -> None:
    assert shutil.which("dot"), "the Graphviz 'dot' program is needed (apt-get install graphviz)"


def chain(*names: str) -> str:
    """DOT text of a chain of boxes, new to this process (the names carry a fresh suffix)."""
    tag = uuid.uuid4().hex[:8]
    ids = [layout.quote(f"{n}-{tag}") for n in names]
    edges = "".join(f"  {a} -> {b};\n" for a, b in zip(ids, ids[1:]))
    return f'digraph g {{\n  node [shape=box, fixedsize=true, label=""];\n{edges}}}\n'


def test_a_layout_in_the_folder_is_read_back_without_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = chain("a", "b", "c")
    laid = layout.layout_with_dot(source, tmp_path)
    assert laid is not None
    [kept] = tmp_path.glob("*.json")
    assert json.loads(kept.read_text()) == laid
    # a new server: nothing in memory, and no dot to run
    monkeypatch.setattr(layout, "_cache", {})
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert layout.dot_program() is None
    assert layout.layout_with_dot(source, tmp_path) == laid
    assert layout.layout_with_dot(chain("x", "y")) is None  # not kept: dot is needed


def test_a_layout_laid_out_for_one_folder_is_kept_in_another_asking_for_it(
    tmp_path: Path,
) -> None:
    source = chain("a", "b")
    laid = layout.layout_with_dot(source, tmp_path / "one")
    assert layout.layout_with_dot(source, tmp_path / "two") is laid  # from memory
    assert json.loads(layout._file(tmp_path / "two", source).read_text()) == laid


def test_an_unreadable_layout_file_is_laid_out_again_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = chain("a", "b")
    laid = layout.layout_with_dot(source, tmp_path)
    [kept] = tmp_path.glob("*.json")
    for bad in ("{not json", '{"nodes": []}', "[]"):
        kept.write_text(bad)
        monkeypatch.setattr(layout, "_cache", {})
        assert layout.layout_with_dot(source, tmp_path) == laid
        assert json.loads(kept.read_text()) == laid


def test_the_folder_keeps_the_most_recently_used_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "_FOLDER_MAX", 2)
    first, second, third = chain("a", "b"), chain("c", "d"), chain("e", "f")
    for age, source in ((7200, first), (3600, second)):  # laid out two hours and one hour ago
        layout.layout_with_dot(source, tmp_path)
        then = time.time() - age
        os.utime(layout._file(tmp_path, source), (then, then))
    monkeypatch.setattr(layout, "_cache", {})
    layout.layout_with_dot(first, tmp_path)  # read again: now the most recently used
    layout.layout_with_dot(third, tmp_path)
    kept = {p.name for p in tmp_path.glob("*.json")}
    assert kept == {layout._file(tmp_path, s).name for s in (first, third)}


def test_a_dot_text_asked_for_by_many_threads_at_once_is_laid_out_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = chain(*(f"n{i}" for i in range(60)))
    calls: list[str] = []
    real = layout._run_dot

    def counted(text: str) -> dict[str, Any] | None:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(layout, "_run_dot", counted)
    start = threading.Barrier(4)
    results: list[Any] = []

    def ask() -> None:
        start.wait()
        results.append(layout.layout_with_dot(source, tmp_path))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert calls == [source]
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert len(results[0]["nodes"]) == 60


def test_the_widget_keeps_its_layout_where_the_server_does(
    nbflow_home: Path, running_workflow: dict[str, Any]
) -> None:
    from nbflow.engine.run import Run
    from nbflow.widget.state import graph_shape
    from nbflow.widget.widget import RunWidget

    run = Run(running_workflow, None, nbflow_home / "runs" / "r")  # type: ignore[arg-type]
    widget = RunWidget(run)
    try:
        source = layout.dot_source(graph_shape(running_workflow))
        kept = layout._file(nbflow_home / "layouts", source)  # the home's, as the server's
        assert widget.positions and json.loads(kept.read_text()) == widget.positions
    finally:
        widget.close()
