"""Tests of the pure pipeline model: values, durations, names and wiring checks."""

from __future__ import annotations

import pickle

import pytest

from nbflow.errors import CycleError, SpecError
from nbflow.model import OutputRef, Task, Template, Workflow
from nbflow.model.check import check, resolve_inputs
from nbflow.model.values import format_duration, parse_assignment, parse_duration, parse_value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("40", 40),
        ("1.5", 1.5),
        ("True", True),
        ("[1, 2]", [1, 2]),
        ('"text"', "text"),
        ('""', ""),
        ("hello", "hello"),
        ("a b", "a b"),
        ("None", None),
        ("{'k': 1}", {"k": 1}),
    ],
)
def test_parse_value_reads_literals_else_strings(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_parse_assignment() -> None:
    assert parse_assignment("lr=0.1") == ("lr", 0.1)
    assert parse_assignment("name=a=b") == ("name", "a=b")
    for bad in ("novalue", "=1", "1x=2"):
        with pytest.raises(ValueError, match="NAME=VALUE"):
            parse_assignment(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("2s", 2), ("1m30s", 90), ("10m", 600), ("2h", 7200), ("500ms", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "2x", "s", "1m 2s", "-1s"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


def test_format_duration_is_go_syntax() -> None:
    assert format_duration(600) == "600s"
    assert format_duration(1.5) == "1.5s"


def _wf(*tasks: Task, **templates: Template) -> Workflow:
    return Workflow("wf", templates=templates, tasks=tasks)


def test_check_reports_cycle_path() -> None:
    t = Template("t")
    wf = _wf(Task("a", "t", depends=("b",)), Task("b", "t", depends=("a",)), t=t)
    with pytest.raises(CycleError) as info:
        check(wf)
    assert "a >> b >> a" in str(info.value) or "b >> a >> b" in str(info.value)
    assert pickle.loads(pickle.dumps(info.value)).path == info.value.path


@pytest.mark.parametrize(
    ("wf", "message"),
    [
        (Workflow("Bad_Name"), "not a valid Kubernetes name"),
        (_wf(Task("a", "nope")), "unknown template 'nope'"),
        (_wf(Task("a", "t"), Task("a", "t"), t=Template("t")), "duplicate task name 'a'"),
        (_wf(Task("a", "t", depends=("zz",)), t=Template("t")), "unknown task 'zz'"),
        (
            _wf(Task("a", "t"), t=Template("t", inputs=("raw",))),
            "needs 'raw', but no upstream task",
        ),
        (_wf(Task("a", "t", arguments={"k": 1}), t=Template("t")), "has no parameter 'k'"),
        (
            _wf(
                Task("a", "t", map_items={"x": [1, 2], "y": [1]}),
                t=Template("t", parameters={"x": 0, "y": 0}),
            ),
            "different lengths",
        ),
        (_wf(Task("9a", "t"), t=Template("t")), "not valid in Argo"),
        (_wf(Task("a", "a_b"), a_b=Template("a_b"), **{"a-b": Template("a-b")}), "collide"),
    ],
)
def test_check_rejects(wf: Workflow, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        check(wf)


def test_unknown_workflow_parameter() -> None:
    wf = Workflow(
        "wf",
        templates={"t": Template("t", parameters={"n": 1})},
        tasks=(Task("t", "t"),),
        parameters={"m": 2},
    )
    with pytest.raises(SpecError, match="no template of workflow 'wf' has a parameter 'm'"):
        check(wf)


def test_resolve_inputs_picks_the_one_upstream_producer() -> None:
    wf = _wf(
        Task("a", "p"),
        Task("b", "q", depends=("a",)),
        Task("c", "c", depends=("b",)),
        p=Template("p", outputs=("x",)),
        q=Template("q", outputs=("y",)),
        c=Template("c", inputs=("x", "y")),
    )
    assert resolve_inputs(wf) == {("c", "x"): "a", ("c", "y"): "b"}


def test_ambiguous_input_asks_for_task_prefix() -> None:
    wf = _wf(
        Task("a", "p"),
        Task("b", "p"),
        Task("c", "c", depends=("a", "b")),
        p=Template("p", outputs=("x",)),
        c=Template("c", inputs=("x",)),
    )
    with pytest.raises(SpecError, match=r"several upstream tasks output it|\(a, b\)"):
        resolve_inputs(wf)


def test_output_ref_must_be_upstream() -> None:
    wf = _wf(
        Task("a", "p"),
        Task("c", "c", arguments={"v": OutputRef("x", "a")}),
        p=Template("p", outputs=("x",)),
        c=Template("c", parameters={"v": 0}),
    )
    with pytest.raises(SpecError, match="'a' is not upstream"):
        resolve_inputs(wf)
