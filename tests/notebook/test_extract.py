"""Tests of reading nbflow magics and cell tags from .ipynb files into a NotebookSpec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nbflow.errors import CycleError, SpecError
from nbflow.model import Resources, Retry, Task, Template
from nbflow.notebook.extract import NotebookSpec, WorkflowDecl, read_notebook
from nbflow.notebook.magic_args import WorkflowOptions

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def write_notebook(path: Path, *cells: str | dict[str, Any]) -> Path:
    """Write a notebook whose code cells have the given sources (dicts are whole cells)."""
    out = []
    for cell in cells:
        if isinstance(cell, str):
            cell = {
                "cell_type": "code",
                "metadata": {},
                "source": cell,
                "outputs": [],
                "execution_count": None,
            }
        out.append(cell)
    path.write_text(json.dumps({"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_pipeline_templates() -> None:
    spec = read_notebook(NOTEBOOKS / "extract_pipeline.ipynb")
    assert list(spec.templates) == ["extract", "featurize", "train", "report", "notify"]
    extract = spec.templates["extract"]
    assert extract == Template(
        name="extract",
        source="raw = pd.read_csv(url)",
        outputs=("raw",),
        retry=Retry(limit=5, policy="Always", backoff_s=2.0, factor=2, max_backoff_s=600.0),
        cell=4,
    )
    featurize = spec.templates["featurize"]
    assert featurize.inputs == ("raw",)
    assert featurize.parameters == {"shard": 0}
    assert featurize.resources == Resources(memory="2Gi")
    assert spec.templates["train"].outputs == ("model", "accuracy")
    assert spec.templates["notify"].source == 'print("done")'


def test_pipeline_notebook_template_and_setup() -> None:
    spec = read_notebook(NOTEBOOKS / "extract_pipeline.ipynb")
    report = spec.templates["report"]
    assert report.notebook == "extract_report.ipynb"
    assert report.parameters == {"threshold": 0.9, "title": "Nightly"}
    assert report.outputs == ("summary",)
    assert spec.setup == {"imports": "import math"}
    assert spec.base_dir == str(NOTEBOOKS)


def test_pipeline_cells() -> None:
    spec = read_notebook(NOTEBOOKS / "extract_pipeline.ipynb")
    kinds = [(c.index, c.kind) for c in spec.cells]
    assert kinds == [
        (0, "markdown"),
        (1, "code"),
        (2, "setup"),
        (3, "code"),
        (4, "template"),
        (5, "template"),
        (6, "template"),
        (7, "notebook-template"),
        (8, "template"),
        (9, "workflow"),
    ]
    assert spec.cells[3].source == 'import pandas as pd\n\nurl = "data.csv"'


def test_pipeline_workflow() -> None:
    spec = read_notebook(NOTEBOOKS / "extract_pipeline.ipynb")
    wf = spec.workflow("nightly", {"threshold": 0.5})
    assert wf.name == "nightly"
    assert list(wf.templates) == ["extract", "featurize", "train", "report", "notify"]
    assert [(t.name, t.depends) for t in wf.tasks] == [
        ("extract", ()),
        ("featurize", ("extract",)),
        ("train", ("featurize",)),
        ("report", ("train",)),
    ]
    assert wf.task("featurize").map_items == {"shard": list(range(8))}
    assert wf.task("report").when == "accuracy > 0.9"
    assert (wf.task("train").line, wf.task("report").line) == (2, 3)  # the magic is line 1
    assert wf.setup == ("import math",)
    assert wf.parameters == {"threshold": 0.5}
    assert (wf.parallelism, wf.on_exit, wf.schedule) == (4, "notify", "0 2 * * *")
    assert wf.where == "workflow nightly (cell 10)"
    assert spec.workflow() == spec.workflow("nightly")


def test_workflow_keeps_only_used_templates(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "%%template a --outputs x\nx = 1",
        "%%template b --inputs x\nprint(x)",
        "%%template unused\npass",
        "%%workflow w\na >> b",
    )
    wf = read_notebook(path).workflow()
    assert list(wf.templates) == ["a", "b"]


def test_tags() -> None:
    spec = read_notebook(NOTEBOOKS / "extract_tags.ipynb")
    assert spec.setup == {"cell 1": "import json"}
    clean = spec.templates["clean"]
    assert clean == Template(
        name="clean",
        source="import json\nclean = [r for r in raw if r]",
        inputs=("raw",),
        outputs=("clean",),
        parameters={"limit": 10},
        cell=2,
    )
    assert [c.kind for c in spec.cells] == ["setup", "template", "template", "workflow"]
    wf = spec.workflow()
    assert [t.depends for t in wf.tasks] == [(), ("load",)]


def test_duplicate_template_names_both_cells(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "%%template a\nx = 1",
        "print(2)",
        "\n%%template a --outputs y\ny = 2",
    )
    with pytest.raises(SpecError) as info:
        read_notebook(path)
    assert str(info.value) == (
        "cell 3, line 2: template 'a' is defined twice: in cell 1 and in cell 3"
    )


def test_duplicate_workflow(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb", "%%template a\nx = 1", "%%workflow w\na", "%%workflow w\na"
    )
    with pytest.raises(
        SpecError, match="cell 3, line 1: workflow 'w' is defined twice: in cell 2 and in cell 3"
    ):
        read_notebook(path)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (
            ["x = 1", "%%template t --retries x\npass"],
            "cell 2, line 1: --retries: expected an integer, got 'x'",
        ),
        (
            ["%%template t\npass", "%%workflow w\nt >> u\nv = 1"],
            "cell 2, line 3, column 1: assignments are not allowed in a workflow",
        ),
        (["%%workflow w --parallelism 0\nt"], "cell 1, line 1: --parallelism: must be at least 1"),
        (
            ["%load_ext nbflow\n%template r --notebook nowhere.ipynb"],
            "cell 1, line 2: --notebook: no such notebook",
        ),
        (["%template r"], "cell 1, line 1: %template: --notebook PATH is required"),
        (["%%setup a\nx = 1", "%%setup a\ny = 1"], "cell 2, line 1: setup 'a' is defined twice"),
    ],
)
def test_errors_name_the_cell_and_line(tmp_path: Path, cells: list[str], expected: str) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", *cells)
    with pytest.raises(SpecError) as info:
        read_notebook(path)
    assert str(info.value).startswith(expected)


def test_bad_tags(tmp_path: Path) -> None:
    cell = {
        "cell_type": "code",
        "metadata": {"nbflow": {"template": "t", "inputs": "raw"}},
        "source": "",
        "outputs": [],
        "execution_count": None,
    }
    path = write_notebook(tmp_path / "nb.ipynb", "x = 1", cell)
    with pytest.raises(SpecError) as info:
        read_notebook(path)
    assert str(info.value) == "cell 2: nbflow tag: 'inputs' must be a list of names"


def test_notebook_template_relative_to_the_notebook(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copy(NOTEBOOKS / "extract_report.ipynb", tmp_path / "sub" / "report.ipynb")
    path = write_notebook(
        tmp_path / "sub" / "main.ipynb", "%template report --notebook report.ipynb -p threshold=0.1"
    )
    spec = read_notebook(path)
    assert spec.templates["report"].parameters == {"threshold": 0.1, "title": "Nightly"}


def test_other_cell_magics_are_plain_code(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb", "%%time\nx = 1", "  %%templates\n", "y = 1\n%%template t\n"
    )
    spec = read_notebook(path)
    assert [c.kind for c in spec.cells] == ["code", "code", "code"]
    assert spec.templates == {}


def test_unreadable_notebooks(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such notebook"):
        read_notebook(tmp_path / "missing.ipynb")
    (tmp_path / "old.ipynb").write_text(json.dumps({"worksheets": [], "nbformat": 3}))
    with pytest.raises(SpecError, match="is not a version 4 notebook"):
        read_notebook(tmp_path / "old.ipynb")


def test_workflow_errors_name_the_workflow(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb", "%%template a\npass", "%%workflow w\na >> trian", "%%workflow v\na"
    )
    spec = read_notebook(path)
    with pytest.raises(SpecError) as info:
        spec.workflow("w")
    assert str(info.value) == (
        "workflow w (cell 2), line 2, column 6: unknown template 'trian' (defined: a)"
    )
    with pytest.raises(SpecError, match=r"several workflows are defined \(w, v\)"):
        spec.workflow()
    with pytest.raises(SpecError, match=r"no workflow 'x' \(defined: w, v\)"):
        spec.workflow("x")
    with pytest.raises(SpecError, match=r"no template of workflow 'v' has a parameter 'k'"):
        spec.workflow("v", {"k": 1})


def test_live_registration_replaces() -> None:
    spec = NotebookSpec()
    with pytest.raises(SpecError, match=r"no workflow is defined"):
        spec.workflow()
    spec.add_template(Template("a", "x = 1", outputs=("x",)))
    spec.add_template(Template("b", "print(x)"))
    spec.add_template(Template("a", "y = 1", outputs=("y",)))
    assert list(spec.templates) == ["a", "b"]
    assert spec.templates["a"].outputs == ("y",)
    spec.add_setup("import os", "k1")
    spec.add_setup("import sys", "k2")
    spec.add_setup("import re", "k1")
    assert list(spec.setup.items()) == [("k1", "import re"), ("k2", "import sys")]
    spec.add_workflow(WorkflowOptions("w"), (Task("a", "a"),))
    spec.add_workflow(WorkflowOptions("w"), (Task("b", "b"),))
    assert spec.workflows["w"] == WorkflowDecl(WorkflowOptions("w"), (Task("b", "b"),))
    assert spec.workflow().setup == ("import re", "import sys")


def test_checked_registration_rejects_and_keeps_the_old() -> None:
    spec = NotebookSpec()
    spec.add_template(Template("a"))
    spec.add_workflow(WorkflowOptions("w"), (Task("a", "a"),), check=True)
    cycle = (Task("a", "a", depends=("b",)), Task("b", "a", depends=("a",)))
    with pytest.raises(CycleError):
        spec.add_workflow(WorkflowOptions("w"), cycle, check=True)
    assert spec.workflow("w").tasks == (Task("a", "a"),)


def test_on_exit_template_is_included() -> None:
    spec = NotebookSpec()
    spec.add_template(Template("a"))
    spec.add_template(Template("notify"))
    spec.add_workflow(WorkflowOptions("w", on_exit="notify"), (Task("a", "a"),))
    assert list(spec.workflow().templates) == ["a", "notify"]
    spec.add_workflow(WorkflowOptions("w", on_exit="nobody"), (Task("a", "a"),))
    with pytest.raises(SpecError, match="--on-exit names unknown template 'nobody'"):
        spec.workflow()
