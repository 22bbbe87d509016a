"""Which notebook a kernel runs: from VS Code's namespace entry or the Jupyter server's env."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbflow.magics.origin import notebook_file, run_origin


def test_the_notebook_comes_from_the_namespace_or_the_session_name(tmp_path: Path) -> None:
    lab, code = tmp_path / "lab.ipynb", tmp_path / "code.ipynb"
    lab.write_text("{}")
    code.write_text("{}")
    env = {"JPY_SESSION_NAME": str(lab)}
    assert notebook_file({}, env) == str(lab)
    assert notebook_file({"__vsc_ipynb_file__": str(code)}, env) == str(code)
    assert notebook_file({}, {}) is None


def test_only_an_existing_notebook_file_counts(tmp_path: Path) -> None:
    assert notebook_file({}, {"JPY_SESSION_NAME": str(tmp_path / "gone.ipynb")}) is None
    console = tmp_path / "console-1"
    console.write_text("")
    assert notebook_file({}, {"JPY_SESSION_NAME": str(console)}) is None
    assert notebook_file({"__vsc_ipynb_file__": 3}, {}) is None


def test_the_origin_is_what_nbflow_run_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = tmp_path / "nb.ipynb"
    nb.write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    assert run_origin({}, "w", str(tmp_path)) == {
        "notebook": str(nb),
        "workflow": "w",
        "base_dir": str(tmp_path),
    }
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert run_origin({}, "w", str(tmp_path)) is None
