"""Tests of the nbflow magics in a real IPython shell (and once in a real kernel)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from nbflow.magics import live_spec

NOTEBOOKS = Path(__file__).parent / "notebooks"


def run(ip: Any, code: str, **kwargs: Any) -> Any:
    return ip.run_cell(code, store_history=True, **kwargs)


def error_of(result: Any) -> str:
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    return str(result.error_in_exec)


def test_template_registers_and_runs(shell: Any) -> None:
    result = run(shell, "%%template extract --outputs raw --retries 2\nraw = [1, 2]\nlen(raw)")
    assert result.success
    assert shell.user_ns["raw"] == [1, 2]
    template = live_spec(shell).templates["extract"]
    assert template.source == "raw = [1, 2]\nlen(raw)\n"
    assert template.outputs == ("raw",)
    assert template.retry is not None and template.retry.limit == 2
    assert template.cell is None


def test_template_output_is_displayed(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%%template t\nprint('printed')\n40 + 2")
    out = capsys.readouterr().out
    assert "printed" in out
    assert "42" in out


def test_no_run_registers_only(shell: Any) -> None:
    assert run(shell, "%%template t --no-run\nnever = 1").success
    assert "never" not in shell.user_ns
    assert live_spec(shell).templates["t"].source == "never = 1\n"


def test_rerun_replaces_the_template(shell: Any) -> None:
    run(shell, "%%template t --outputs a\na = 1")
    run(shell, "%%template t --outputs b\nb = 2")
    assert list(live_spec(shell).templates) == ["t"]
    assert live_spec(shell).templates["t"].outputs == ("b",)


def test_bad_arguments_are_usage_errors(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(shell, "%%template t --retries x\nx = 1")
    assert error_of(result) == "--retries: expected an integer, got 'x'"
    assert "Traceback" not in capsys.readouterr().out
    assert error_of(run(shell, "%%template t --foo\nx = 1")) == "unrecognized argument --foo"
    assert live_spec(shell).templates == {}
    assert "x" not in shell.user_ns


def test_failing_code_is_registered_and_fails_the_cell(shell: Any) -> None:
    result = run(shell, "%%template boom\n1 / 0")
    assert error_of(result) == (
        "template 'boom' is registered, but its code failed (see the error above)"
    )
    assert "boom" in live_spec(shell).templates


def test_setup_registers_runs_and_replaces(shell: Any) -> None:
    run(shell, "%%setup imports\nimport math")
    run(shell, "%%setup other\nk = 1")
    run(shell, "%%setup imports\nimport math, json")
    assert "json" in shell.user_ns
    assert list(live_spec(shell).setup.items()) == [
        ("imports", "import math, json\n"),
        ("other", "k = 1\n"),
    ]


def test_unnamed_setup_is_keyed_by_cell_id(shell: Any) -> None:
    run(shell, "%%setup\nimport os", cell_id="cell-a")
    run(shell, "%%setup\nimport os, sys", cell_id="cell-a")
    run(shell, "%%setup\nimport re", cell_id="cell-b")
    assert list(live_spec(shell).setup.values()) == ["import os, sys\n", "import re\n"]
    run(shell, "%%setup\nimport re")
    run(shell, "%%setup\nimport re")  # no cell id: the same code is not added twice
    assert len(live_spec(shell).setup) == 3


def test_notebook_template(shell: Any, tmp_path: Path) -> None:
    shutil.copy(NOTEBOOKS / "extract_report.ipynb", tmp_path / "report.ipynb")
    assert run(
        shell, "%template report --notebook report.ipynb --outputs summary -p title=T"
    ).success
    template = live_spec(shell).templates["report"]
    assert template.notebook == "report.ipynb"
    assert template.parameters == {"threshold": 0.9, "title": "T"}
    message = error_of(run(shell, "%template r --notebook gone.ipynb"))
    assert message.startswith("--notebook: no such notebook: ")
    assert "gone.ipynb" in message


def test_workflow_registers_after_checking(shell: Any) -> None:
    run(shell, "%%template a --outputs x\nx = 1")
    run(shell, "%%template b --inputs x --param n=1\ny = x + n")
    assert run(shell, "%%workflow w --parallelism 2\na >> b(n=5)").success
    wf = live_spec(shell).workflow("w")
    assert wf.parallelism == 2
    assert wf.task("b").arguments == {"n": 5}
    assert wf.where == "workflow w"


def test_workflow_errors_have_line_and_column(shell: Any) -> None:
    run(shell, "%%template a\npass")
    result = run(shell, "%%workflow w\na >> trian")
    assert error_of(result) == (
        "workflow w, line 2, column 6: unknown template 'trian' (defined: a)"
    )
    result = run(shell, "%%workflow w\na >> (")
    assert error_of(result).startswith("workflow w, line 2, column")
    assert error_of(run(shell, "%%workflow w --schedule '1 2'\na")).startswith(
        "--schedule: expected 5 cron fields"
    )
    assert live_spec(shell).workflows == {}


def test_nbflow_argument_errors(shell: Any, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown command 'go'"):
        shell.run_line_magic("nbflow", "go")
    with pytest.raises(UsageError, match=r"^no workflow is defined"):
        shell.run_line_magic("nbflow", "run")
    with pytest.raises(UsageError, match=r"^no workflow is defined"):
        shell.run_line_magic("nbflow", "compile -o out.yaml")
    assert not (tmp_path / "out.yaml").exists()  # the shell's working directory
    with pytest.raises(UsageError, match=r"^missing TASK after %nbflow logs$"):
        shell.run_line_magic("nbflow", "logs run-1")
    with pytest.raises(UsageError, match=r"^unrecognized argument b$"):
        shell.run_line_magic("nbflow", "status a b")


def test_nbflow_run_checks_workflow_and_parameters(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%template a --param n=1\npass")
    run(shell, "%%workflow w\na")
    with pytest.raises(UsageError, match=r"^no workflow 'nightly' \(defined: w\)$"):
        shell.run_line_magic("nbflow", "run nightly")
    with pytest.raises(
        UsageError,
        match=r"-p k=\.\.\.: no template of workflow 'w' has a "
        r"parameter 'k'",
    ):
        shell.run_line_magic("nbflow", "run w -p k=1")
    capsys.readouterr()
    with pytest.raises(UsageError, match=r"^-p: expected NAME=VALUE, got 'k'$"):
        shell.run_line_magic("nbflow", "compile w -p k")
    assert capsys.readouterr().out == ""  # no manifest printed


def test_lint_uses_the_kernel_history(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "import json")
    run(shell, "%%template a --outputs s\ns = json.dumps(1)")
    run(shell, "%%workflow w\na")
    capsys.readouterr()
    shell.run_line_magic("nbflow", "lint")
    count = shell.user_ns["In"].index("import json")
    assert capsys.readouterr().out == (
        f"warning: template a: `json` is defined only in In [{count}]: move it into a %%setup "
        "cell or declare it as an input\n"
    )
    run(shell, "%%setup\nimport json")
    capsys.readouterr()
    shell.run_line_magic("nbflow", "lint w")
    assert capsys.readouterr().out == "no problems\n"


def test_loading_again_keeps_the_registry(shell: Any) -> None:
    run(shell, "%%template a\npass")
    from nbflow import load_ipython_extension

    load_ipython_extension(shell)
    shell.run_line_magic("load_ext", "nbflow")
    assert list(live_spec(shell).templates) == ["a"]


@pytest.mark.kernel
def test_magics_in_a_real_kernel(tmp_path: Path) -> None:
    import nbformat
    import papermill
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext nbflow"),
            new_code_cell("%%template a --outputs x\nx = 20 + 1"),
            new_code_cell("%%workflow w\na"),
            new_code_cell(
                "from nbflow.magics import live_spec\n"
                "print(x * 2, list(live_spec(get_ipython()).workflow('w').templates))"
            ),
        ]
    )
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "in.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[3].outputs[0]["text"] == "42 ['a']\n"


@pytest.mark.kernel
def test_retry_and_rerun_magics_use_the_kernels_cells(shell: Any, nbflow_home: Path) -> None:
    ok = run(shell, "%%template a --outputs x\nfrom pathlib import Path\n"
             "if Path('broken').exists():\n    raise RuntimeError('broken')\nx = 1")
    assert ok.success
    run(shell, "%%template b --inputs x --outputs y\ny = x + 1")
    run(shell, "%%workflow w\na >> b")
    Path("broken").write_text("")
    first = run(shell, "r = %nbflow run w")
    assert first.success and shell.user_ns["r"].phase == "Failed"
    Path("broken").unlink()
    assert run(shell, "r2 = %nbflow retry").success
    assert shell.user_ns["r2"].phase == "Succeeded"
    assert shell.user_ns["r2"].outputs("b") == {"y": 2}
    run(shell, "%%template b --inputs x --outputs y --no-run\ny = x + 100")  # edit b
    assert run(shell, f"r3 = %nbflow rerun {shell.user_ns['r'].id} --from b").success
    assert shell.user_ns["r3"].outputs("b") == {"y": 101}
    assert shell.user_ns["r3"].id == shell.user_ns["r"].id
    # with two workflows, the run says which one to rerun (no --workflow needed)
    run(shell, "%%workflow other\nb")
    run(shell, "%%template b --inputs x --outputs y --no-run\ny = x + 7")
    assert run(shell, f"r4 = %nbflow rerun {shell.user_ns['r'].id} --from b").success
    assert shell.user_ns["r4"].outputs("b") == {"y": 8}


@pytest.mark.kernel
def test_retry_after_an_edit_says_which_code_it_runs(
    shell: Any, nbflow_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%template a --outputs x --no-run\nraise RuntimeError('old code')")
    run(shell, "%%template b --inputs x\nprint(x)")
    run(shell, "%%workflow w\na >> b")
    assert run(shell, "r = %nbflow run w").success and shell.user_ns["r"].phase == "Failed"
    run(shell, "%%template a --outputs x --no-run\nx = 1")  # fixed in the cell
    capsys.readouterr()
    assert run(shell, "r2 = %nbflow retry").success
    said = capsys.readouterr().out
    assert "retry runs the code the run started with; the cells of a changed since" in said
    assert "rerun from a" in said
    assert shell.user_ns["r2"].phase == "Failed"  # the old code, as it said
    capsys.readouterr()
    assert run(shell, f"%nbflow rerun {shell.user_ns['r'].id} --from a").success
    assert "changed since" not in capsys.readouterr().out


def test_a_run_records_the_notebook_its_kernel_runs(
    shell: Any, nbflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbflow.engine.store import RunStore
    from nbflow.history import list_summaries

    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # as a Jupyter server starts it
    run(shell, "%%template a --outputs x\nx = 1")
    run(shell, "%%workflow w\na")
    assert run(shell, "r = %nbflow run w").success
    _, settings = RunStore(nbflow_home / "runs").load(shell.user_ns["r"].id)
    assert settings["notebook"] == str(notebook) and settings["workflow"] == "w"
    # so the Lab extension finds it among the notebook's runs (its cell badges, its filter)
    (summary,), _ = list_summaries(root=tmp_path, notebook="analysis.ipynb")
    assert summary["id"] == shell.user_ns["r"].id
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "console-1"))  # not a notebook
    assert run(shell, "r2 = %nbflow run w").success
    _, settings = RunStore(nbflow_home / "runs").load(shell.user_ns["r2"].id)
    assert "notebook" not in settings
