"""Tests of the ``%nbflow COMMAND ...`` parser."""

from __future__ import annotations

import pytest

from nbflow.errors import SpecError
from nbflow.magics.commands import parse_nbflow


def test_nbflow_commands() -> None:
    command, args = parse_nbflow("run nightly -p shard=3 --param name=x")
    assert command == "run"
    assert (args.name, args.parameters) == ("nightly", {"shard": 3, "name": "x"})
    command, args = parse_nbflow("compile -o out.yaml")
    assert (command, args.name, args.output, args.parameters) == ("compile", None, "out.yaml", {})
    assert parse_nbflow("lint")[1].name is None
    assert parse_nbflow("lint nightly")[1].name == "nightly"
    assert parse_nbflow("status")[1].run is None
    _, args = parse_nbflow("logs r-1 train")
    assert (args.run, args.task) == ("r-1", "train")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "",
            "%nbflow: missing command (one of run, compile, lint, status, logs, resume, retry, "
            "rerun, stop, schedule)",
        ),
        (
            "go",
            "%nbflow: unknown command 'go' (one of run, compile, lint, status, logs, resume, "
            "retry, rerun, stop, schedule)",
        ),
        ("run w -p x", "-p: expected NAME=VALUE, got 'x'"),
        ("logs r1", "missing TASK after %nbflow logs"),
        ("status a b", "unrecognized argument b"),
        ("lint -o x", "unrecognized argument -o"),
    ],
)
def test_nbflow_errors(line: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_nbflow(line)
    assert info.value.message == message
