"""Tests of the pipeline linter."""

from __future__ import annotations

import json
from pathlib import Path

from nbflow.lint import Problem, lint
from nbflow.model import Template
from nbflow.notebook.extract import NotebookSpec, read_notebook

NOTEBOOKS = Path(__file__).parent / "notebooks"


def write_notebook(path: Path, *sources: str) -> Path:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


def test_pipeline_fixture() -> None:
    problems = lint(read_notebook(NOTEBOOKS / "extract_pipeline.ipynb"))
    assert problems == [
        Problem(
            "warning",
            "`pd` is defined only in cell 4: move it into a %%setup cell or declare it as an input",
            "cell 5",
        ),
        Problem(
            "warning",
            "`url` is defined only in cell 4: move it into a %%setup cell or "
            "declare it as an input",
            "cell 5",
        ),
        Problem("warning", "`fit` is used by template 'train' but defined nowhere", "cell 7"),
        Problem(
            "warning", "template 'train' declares output 'accuracy' but never assigns it", "cell 7"
        ),
    ]


def test_clean_pipeline_has_no_problems() -> None:
    assert lint(read_notebook(NOTEBOOKS / "extract_tags.ipynb")) == []


def test_setup_inputs_parameters_builtins_and_ipython_syntax(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "%%setup\nimport math\nfrom os import path as osp\ndef helper(v):\n    return v",
        "%%template a --outputs xs --param n=3\n"
        "xs = [helper(math.sqrt(i)) for i in range(n)]\n"
        "files = !ls\n"
        "%time total = sum(xs)\n"
        "class K:\n    size = len(xs)\n"
        "def f():\n    global late\n    late = osp.sep\n"
        "print(__name__, late, get_ipython(), display)",
        "%%template b --inputs xs\nfor x in xs:\n    print(x)",
        "%%workflow w\na >> b",
    )
    assert lint(read_notebook(path)) == []


def test_names_read_in_nested_scopes(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "limit = 3",
        "%%template a\nok = [v for v in range(9) if v < limit]\n"
        "def g(x=lambda: other):\n    return x() + ghost\n",
        "%%workflow w\na",
    )
    assert [p.message for p in lint(read_notebook(path))] == [
        "`ghost` is used by template 'a' but defined nowhere",
        "`limit` is defined only in cell 1: move it into a %%setup cell or declare it as an input",
        "`other` is used by template 'a' but defined nowhere",
    ]


def test_name_defined_in_several_cells_and_in_other_templates(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "k = 1",
        "k = 2",
        "%%template a --outputs v\nv = 1\nw = 2",
        "%%template b\nprint(k, w)",
        "%%workflow flow\na >> b",
    )
    assert [(p.message, p.where) for p in lint(read_notebook(path))] == [
        (
            "`k` is defined only in cell 1 and cell 2: move it into a %%setup cell or declare it "
            "as an input",
            "cell 4",
        ),
        (
            "`w` is defined only in template 'a': declare it as an input of 'b' (and as an output "
            "there)",
            "cell 4",
        ),
    ]


def test_wiring_error_then_warnings(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb", "%%template a --inputs x\nprint(y)", "%%workflow w\na"
    )
    problems = lint(read_notebook(path))
    assert problems[0] == Problem(
        "error",
        "task 'a' needs 'x', but no upstream task outputs it (add --outputs x to an "
        "upstream template, or wire it with >>)",
        "workflow w (cell 2), line 2, column 1",
    )
    assert problems[1:] == [
        Problem("warning", "`y` is used by template 'a' but defined nowhere", "cell 1")
    ]
    assert str(problems[1]) == "warning: cell 1: `y` is used by template 'a' but defined nowhere"


def test_unknown_workflow_is_one_error(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", "%%template a\nprint(y)", "%%workflow w\na")
    assert lint(read_notebook(path), "nope") == [
        Problem("error", "no workflow 'nope' (defined: w)", None)
    ]


def test_without_workflow_every_template_is_checked(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", "%%template a\nprint(y)", "%%template b\nprint(z)")
    assert [p.message for p in lint(read_notebook(path))] == [
        "`y` is used by template 'a' but defined nowhere",
        "`z` is used by template 'b' but defined nowhere",
    ]


def test_syntax_error_in_template(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", "%%template a\nx = 1\ny = (", "%%workflow w\na")
    assert lint(read_notebook(path)) == [
        Problem("error", "template 'a' does not parse: '(' was never closed", "cell 1, line 3")
    ]


def test_live_namespace_cells() -> None:
    spec = NotebookSpec()
    spec.add_template(Template("a", "df = pd.DataFrame()", outputs=("df",)))
    history = [
        "",
        "import pandas as pd",
        "get_ipython().run_cell_magic('template', 'a --outputs df', 'df = pd.DataFrame()')",
    ]
    assert lint(spec, namespace_cells=history) == [
        Problem(
            "warning",
            "`pd` is defined only in In [1]: move it into a %%setup cell or declare it as an input",
            "template a",
        )
    ]
    spec.add_setup("import pandas as pd", "cell-id-1")
    assert lint(spec, namespace_cells=history) == []


def test_notebook_templates_are_not_analysed() -> None:
    spec = NotebookSpec()
    spec.add_template(Template("r", notebook="report.ipynb", outputs=("never",)))
    assert lint(spec) == []
