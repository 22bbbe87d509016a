"""The live-kernel lint that saves each computed output as its step would."""

from __future__ import annotations

from typing import Any

import pytest

from nbflow.lint import check_outputs
from nbflow.magics import live_spec


def cells(shell: Any, *sources: str) -> None:
    for source in sources:
        result = shell.run_cell(source, store_history=True)
        assert result.success, result.error_in_exec


def test_open_socket_and_lambda_are_named_with_type_and_template(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cells(
        shell,
        "%%template fetch --outputs conn,rows\nimport socket\nconn = socket.socket()\nrows = [1]",
        "%%template model --inputs rows --outputs score,fn\nscore = 0.5\nfn = lambda x: x + 1",
        "%%workflow nightly\nfetch >> model",
    )
    try:
        problems = check_outputs(live_spec(shell), "nightly", shell.user_ns)
        assert [(p.level, p.where) for p in problems] == [
            ("error", "template fetch"),
            ("error", "template model"),
        ]
        assert problems[0].message.startswith(
            "output 'conn' of template 'fetch' (a socket) cannot be saved: pickle failed"
        )
        assert "cannot pickle 'socket' object" in problems[0].message
        assert problems[1].message.startswith(
            "output 'fn' of template 'model' (a function) cannot be saved"
        )
        assert "lambda" in problems[1].message
        capsys.readouterr()
        cells(shell, "%nbflow lint nightly")
        printed = capsys.readouterr().out
        assert "error: template fetch: output 'conn' of template 'fetch' (a socket)" in printed
        assert "error: template model: output 'fn' of template 'model'" in printed
    finally:
        shell.user_ns["conn"].close()


def test_values_that_save_give_no_problem(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cells(
        shell,
        "%%template a --outputs n,label\nn = 3\nlabel = {'k': [1, 2]}",
        "%%template b --inputs n --outputs later --no-run\nlater = lambda: n",
        "%%workflow ok\na >> b",
    )
    assert check_outputs(live_spec(shell), "ok", shell.user_ns) == []  # b has not run
    capsys.readouterr()
    cells(shell, "%nbflow lint ok")
    assert capsys.readouterr().out.strip() == "no problems"


def test_class_defined_in_a_plain_cell_is_a_warning(shell: Any) -> None:
    cells(
        shell,
        "class Model:\n    pass",
        "%%template train --outputs model\nmodel = Model()",
    )
    (problem,) = check_outputs(live_spec(shell), None, shell.user_ns)
    assert problem.level == "warning"
    assert problem.message.startswith(
        "output 'model' of template 'train' needs Model, defined in the notebook"
    )
    assert "%%setup" in problem.message


def test_class_defined_in_setup_is_fine(shell: Any) -> None:
    cells(
        shell,
        "%%setup\nclass Model:\n    pass",
        "%%template train --outputs model\nmodel = Model()",
    )
    assert check_outputs(live_spec(shell), None, shell.user_ns) == []


def test_value_recorded_with_nbflow_output_is_the_one_checked(shell: Any) -> None:
    cells(
        shell,
        "%%template t --outputs result\nimport nbflow\nresult = 1\nnbflow.output('result', "
        "lambda: 2)",
    )
    try:
        (problem,) = check_outputs(live_spec(shell), None, shell.user_ns)
        assert problem.level == "error" and "output 'result'" in problem.message
    finally:
        from nbflow import handoff

        handoff.reset()
