"""The local engine on its fast path: crashes end as Error, the run goes on, fallbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook

pytestmark = pytest.mark.kernel

CRASH = [
    "%%template crash\nimport ctypes\nctypes.string_at(0)",
    "%%template fine --outputs y\ny = 2",
    "%%template after --inputs y\nprint('after', y)",
    "%%workflow crashing\ncrash.continue_on_fail() >> fine >> after",
]


def run(make_notebook: Any, cells: list[str], engine: str) -> Any:
    path = make_notebook(cells)
    wf = read_notebook(path).workflow(None)
    config = load_config(engine=engine, cache=False)
    return api.run_workflow(wf, config=config, workdir=path.parent, base_dir=path.parent)


def test_a_segfault_is_an_error_and_the_run_goes_on(make_notebook: Any, nbflow_home: Path) -> None:
    result = run(make_notebook, CRASH, "fast")
    assert result.tasks() == {"crash": "Error", "fine": "Succeeded", "after": "Succeeded"}
    assert result.phase == "Succeeded"  # continueOn error: the crash did not end the run
    [failure] = result.failures()
    assert failure["phase"] == "Error"
    assert failure["message"] == "kernel died: exit code -11 (SIGSEGV)"
    assert "after 2" in result.logs("after")


@pytest.mark.parametrize("engine", ["fast", "papermill"])
def test_both_engines_give_the_same_results(
    make_notebook: Any, nbflow_home: Path, engine: str
) -> None:
    result = run(make_notebook, "chain", engine)
    assert result.phase == "Succeeded", result.summary()
    assert result.outputs("third") == {"label": "y=4.0"}


def test_a_template_using_widgets_falls_back_to_papermill(
    make_notebook: Any, nbflow_home: Path
) -> None:
    cells = [
        "%%template w --outputs n\nimport ipywidgets\nn = 1",
        "%%template plain --outputs m\nm = 1",
        "%%workflow widgets\nw\nplain",
    ]
    result = run(make_notebook, cells, "fast")
    assert result.phase == "Succeeded", result.summary()
    assert result.driver.engine.fallbacks == {
        "w": "it uses ipywidgets (widgets need a real kernel's comms)"
    }
