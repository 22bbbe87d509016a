"""Tests for DAG ``depends`` logic."""

from __future__ import annotations

import pytest

from nbflow.argo.depends import (
    RESULTS,
    TaskResult,
    dependencies_to_depends,
    depends_tasks,
    evaluate_depends,
    expand_depends,
)
from nbflow.errors import ManifestError
from nbflow.vocab import Phase

S, F, E = Phase.SUCCEEDED, Phase.FAILED, Phase.ERROR
SK, OM, P, R = Phase.SKIPPED, Phase.OMITTED, Phase.PENDING, Phase.RUNNING
EXP = "(a.Succeeded || a.Skipped || a.Daemoned)"


@pytest.mark.parametrize(
    ("result", "true_for"),
    [
        (TaskResult(S), {"Succeeded"}),
        (TaskResult(F), {"Failed"}),
        (TaskResult(E), {"Errored"}),
        (TaskResult(SK), {"Skipped"}),
        (TaskResult(OM), {"Omitted"}),
        (TaskResult(R, daemoned=True), {"Daemoned"}),
        (TaskResult(S, daemoned=True), {"Succeeded", "Daemoned"}),
        (TaskResult(P, daemoned=True), set()),
        (TaskResult(S, (S, F)), {"Succeeded", "AnySucceeded"}),
        (TaskResult(F, (F, F)), {"Failed", "AllFailed"}),
        (TaskResult(F, (F, E)), {"Failed"}),  # Error is not Failed
        (TaskResult(E, (E,)), {"Errored"}),
        (TaskResult(S, (SK, SK)), {"Succeeded"}),
        (TaskResult(SK, ()), {"Skipped"}),  # AllFailed needs at least one child
    ],
)
def test_task_result_holds(result: TaskResult, true_for: set[str]) -> None:
    assert {name for name in RESULTS if result.holds(name)} == true_for


@pytest.mark.parametrize(
    ("expr", "tasks"),
    [
        ("", []),
        ("a", ["a"]),
        ("a-b.Succeeded || c", ["a-b", "c"]),
        ("(a.Failed && b) || !a.Omitted", ["a", "b"]),
        ("A1.AnySucceeded && x-2-y.AllFailed", ["A1", "x-2-y"]),
        ("  b&&a  ", ["b", "a"]),
    ],
)
def test_depends_tasks(expr: str, tasks: list[str]) -> None:
    assert depends_tasks(expr) == tasks


MALFORMED = [
    ("a.Bogus", "task result 'Bogus' for task 'a' is invalid"),
    ("a.succeeded", "task result 'succeeded' for task 'a' is invalid"),
    ("a &&", "malformed depends expression 'a &&': unexpected end of expression"),
    ("a & b", "malformed depends expression 'a & b': unexpected '&' at column 3"),
    ("(a || b", "(missing ')'): unexpected end of expression"),
    ("a b", "unexpected 'b' at column 3"),
    ("a)", "unexpected ')' at column 2"),
    ("()", "unexpected ')' at column 2"),
    ("a.b.Succeeded", "unexpected '.' at column 4"),
    ("a and b", "unexpected 'and' at column 3"),
    ("!", "unexpected end of expression"),
    ("_a", "unexpected '_' at column 1"),
]


@pytest.mark.parametrize(("expr", "message"), MALFORMED)
def test_depends_tasks_rejects_malformed(expr: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        depends_tasks(expr, where="task z")
    assert message in str(info.value)
    assert info.value.where == "task z"


@pytest.mark.parametrize(
    ("expr", "continue_on", "expanded"),
    [
        ("a", {}, EXP),
        ("a.Failed", {}, "a.Failed"),
        ("a && b.Failed", {}, f"{EXP} && b.Failed"),
        ("a", {"a": (True, False)}, "(a.Succeeded || a.Skipped || a.Daemoned || a.Failed)"),
        ("a", {"a": (False, True)}, "(a.Succeeded || a.Skipped || a.Daemoned || a.Errored)"),
        ("a", {"a": (True, True)},
         "(a.Succeeded || a.Skipped || a.Daemoned || a.Errored || a.Failed)"),
        ("a", {"b": (True, True)}, EXP),
        ("!(my-task)", {},
         "!((my-task.Succeeded || my-task.Skipped || my-task.Daemoned))"),
        ("a  ||b", {}, f"{EXP}  ||(b.Succeeded || b.Skipped || b.Daemoned)"),
    ],
)
def test_expand_depends(expr: str, continue_on: dict[str, tuple[bool, bool]],
                        expanded: str) -> None:
    assert expand_depends(expr, continue_on) == expanded


def test_expand_depends_rejects_bad_characters() -> None:
    with pytest.raises(ManifestError, match="unexpected '=' at column 3"):
        expand_depends("a == b")


@pytest.mark.parametrize(
    ("deps", "continue_on", "depends"),
    [
        ([], {}, ""),
        (["a"], {}, EXP),
        (["a", "b-c"], {},
         f"{EXP} && (b-c.Succeeded || b-c.Skipped || b-c.Daemoned)"),
        (["a"], {"a": (True, False)}, "(a.Succeeded || a.Skipped || a.Daemoned || a.Failed)"),
    ],
)
def test_dependencies_to_depends(deps: list[str], continue_on: dict[str, tuple[bool, bool]],
                                 depends: str) -> None:
    assert dependencies_to_depends(deps, continue_on) == depends


@pytest.mark.parametrize("name", ["a b", "-a", "a.Succeeded", ""])
def test_dependencies_to_depends_rejects_bad_names(name: str) -> None:
    with pytest.raises(ManifestError, match="invalid task name"):
        dependencies_to_depends(["ok", name])


@pytest.mark.parametrize(
    ("expr", "results", "expected"),
    [
        ("a.Succeeded", {"a": TaskResult(S)}, True),
        ("a.Succeeded", {"a": TaskResult(F)}, False),
        ("a.Failed", {"a": TaskResult(F)}, True),
        ("a.Errored", {"a": TaskResult(E)}, True),
        ("a.Errored", {"a": TaskResult(F)}, False),
        ("a.Skipped", {"a": TaskResult(SK)}, True),
        ("a.Omitted", {"a": TaskResult(OM)}, True),
        ("a.Daemoned", {"a": TaskResult(R, daemoned=True)}, True),
        ("a.AnySucceeded", {"a": TaskResult(F, (F, S))}, True),
        ("a.AnySucceeded", {"a": TaskResult(F, (F, E))}, False),
        ("a.AllFailed", {"a": TaskResult(F, (F, F))}, True),
        ("a.AllFailed", {"a": TaskResult(F, (F, E))}, False),
        ("a.AllFailed", {"a": TaskResult(S, ())}, False),
        # a bare name: Succeeded, Skipped (issue #1386) or Daemoned; Omitted cascades
        ("a", {"a": TaskResult(S)}, True),
        ("a", {"a": TaskResult(SK)}, True),
        ("a", {"a": TaskResult(R, daemoned=True)}, True),
        ("a", {"a": TaskResult(OM)}, False),
        ("a", {"a": TaskResult(F)}, False),
        ("a", {"a": TaskResult(E)}, False),
        # operators and precedence: && binds tighter than ||, ! tightest
        ("!a.Succeeded", {"a": TaskResult(F)}, True),
        ("!!a.Succeeded", {"a": TaskResult(F)}, False),
        ("!a.Succeeded && a.Failed", {"a": TaskResult(F)}, True),
        ("a.Succeeded || b.Succeeded && c.Succeeded",
         {"a": TaskResult(S), "b": TaskResult(F), "c": TaskResult(F)}, True),
        ("(a.Succeeded || b.Succeeded) && c.Succeeded",
         {"a": TaskResult(S), "b": TaskResult(F), "c": TaskResult(F)}, False),
        ("a.Failed || b.Failed", {"a": TaskResult(S), "b": TaskResult(F)}, True),
        ("a.Failed && b.Failed", {"a": TaskResult(F), "b": TaskResult(S)}, False),
        ("my-task.Succeeded && other-2", {"my-task": TaskResult(S), "other-2": TaskResult(SK)},
         True),
        ("", {}, True),
    ],
)
def test_evaluate_depends(expr: str, results: dict[str, TaskResult], expected: bool) -> None:
    assert evaluate_depends(expr, results) is expected


@pytest.mark.parametrize(
    ("continue_on", "phase", "expected"),
    [
        ({"a": (True, False)}, F, True),
        ({"a": (True, False)}, E, False),
        ({"a": (False, True)}, E, True),
        ({"a": (False, True)}, F, False),
        ({"a": (True, True)}, E, True),
        ({"a": (True, True)}, OM, False),
    ],
)
def test_evaluate_depends_continue_on(continue_on: dict[str, tuple[bool, bool]], phase: Phase,
                                      expected: bool) -> None:
    results = {"a": TaskResult(phase)}
    assert evaluate_depends("a", results, continue_on=continue_on) is expected
    # same answer through the textual expansion
    assert evaluate_depends(expand_depends("a", continue_on), results) is expected


def test_evaluate_depends_accepts_dependencies_expansion() -> None:
    depends = dependencies_to_depends(["a", "b"], {"b": (True, False)})
    assert evaluate_depends(depends, {"a": TaskResult(SK), "b": TaskResult(F)})
    assert not evaluate_depends(depends, {"a": TaskResult(OM), "b": TaskResult(F)})


@pytest.mark.parametrize("expr", ["b.Succeeded", "a.Succeeded || b.Succeeded", "a && !b"])
def test_evaluate_depends_missing_task(expr: str) -> None:
    with pytest.raises(ManifestError) as info:
        evaluate_depends(expr, {"a": TaskResult(S)}, where="task c")
    assert str(info.value) == f"task c: depends expression '{expr}' refers to task 'b', " \
        "which has no result"


@pytest.mark.parametrize(("expr", "message"), MALFORMED)
def test_evaluate_depends_rejects_malformed(expr: str, message: str) -> None:
    results = {name: TaskResult(S) for name in ("a", "b", "and", "my-task")}
    with pytest.raises(ManifestError) as info:
        evaluate_depends(expr, results)
    assert message in str(info.value)
