"""DAG ``depends`` logic: referenced tasks, expansion of bare task names, evaluation."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import ManifestError
from ..vocab import Phase

__all__ = ["RESULTS", "TaskResult", "depends_tasks", "expand_depends",
           "dependencies_to_depends", "evaluate_depends"]

#: The task results a ``depends`` expression may test (Argo's ``TaskResult`` values).
RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned",
           "AnySucceeded", "AllFailed")

_PHASE_OF = {"Succeeded": Phase.SUCCEEDED, "Failed": Phase.FAILED, "Errored": Phase.ERROR,
             "Skipped": Phase.SKIPPED, "Omitted": Phase.OMITTED}
_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
_TOKEN = re.compile(r"(?P<task>[a-zA-Z0-9][-a-zA-Z0-9]*)(?:\.(?P<result>[A-Za-z]+))?"
                    r"|(?P<op>&&|\|\||!|\(|\))")

ContinueOn = Mapping[str, tuple[bool, bool]]


@dataclass(frozen=True)
class TaskResult:
    """What a ``depends`` expression can see of one finished (fulfilled) task.

    Parameters
    ----------
    phase : Phase
        The task node's phase (for an expanded task, its TaskGroup's phase).
    children : tuple of Phase
        Phases of an expanded task's items; empty for a plain task.
    daemoned : bool
        The task runs a daemon.
    """

    phase: Phase
    children: tuple[Phase, ...] = ()
    daemoned: bool = False

    def holds(self, result: str) -> bool:
        """Whether ``T.<result>`` is true for this task.

        As in Argo's ``dag.go``: ``Errored`` means phase Error; ``Daemoned`` needs a daemon
        that is past Pending; ``AnySucceeded`` is true if some child Succeeded;
        ``AllFailed`` needs at least one child and every child Failed (Error is not Failed).
        """
        if result == "Daemoned":
            return self.daemoned and self.phase != Phase.PENDING
        if result == "AnySucceeded":
            return any(child == Phase.SUCCEEDED for child in self.children)
        if result == "AllFailed":
            return bool(self.children) and all(c == Phase.FAILED for c in self.children)
        return self.phase == _PHASE_OF[result]


def _results_of(task: str, continue_on: ContinueOn | None) -> list[str]:
    """Results a bare task name stands for; Argo appends Errored before Failed."""
    failed, error = (continue_on or {}).get(task, (False, False))
    return ["Succeeded", "Skipped", "Daemoned"] + ["Errored"] * error + ["Failed"] * failed


def _expand(task: str, continue_on: ContinueOn | None) -> str:
    return "(" + " || ".join(f"{task}.{r}" for r in _results_of(task, continue_on)) + ")"


def _scan(expr: str, where: str | None) -> list[re.Match[str]]:
    tokens = []
    pos = 0
    while pos < len(expr):
        if expr[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ManifestError(f"malformed depends expression '{expr}': unexpected "
                                f"'{expr[pos]}' at column {pos + 1}", where)
        tokens.append(m)
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over ``||``, ``&&``, ``!``, parentheses and ``task[.Result]``."""

    def __init__(self, expr: str, lookup: Callable[[str, str], bool], where: str | None) -> None:
        self.expr, self.lookup, self.where = expr, lookup, where
        self.tokens = _scan(expr, where)
        self.i = 0

    def fail(self, why: str) -> ManifestError:
        if self.i < len(self.tokens):
            tok = self.tokens[self.i]
            why += f": unexpected '{tok.group()}' at column {tok.start() + 1}"
        else:
            why += ": unexpected end of expression"
        return ManifestError(f"malformed depends expression '{self.expr}'{why}", self.where)

    def op(self, value: str) -> bool:
        if self.i < len(self.tokens) and self.tokens[self.i].group("op") == value:
            self.i += 1
            return True
        return False

    def parse(self) -> bool:
        value = self.either()
        if self.i < len(self.tokens):
            raise self.fail("")
        return value

    def either(self) -> bool:
        value = self.both()
        while self.op("||"):
            value = self.both() or value  # evaluate every operand, so every name is checked
        return value

    def both(self) -> bool:
        value = self.negation()
        while self.op("&&"):
            value = self.negation() and value
        return value

    def negation(self) -> bool:
        return not self.negation() if self.op("!") else self.atom()

    def atom(self) -> bool:
        if self.op("("):
            value = self.either()
            if not self.op(")"):
                raise self.fail(" (missing ')')")
            return value
        if self.i >= len(self.tokens) or self.tokens[self.i].group("task") is None:
            raise self.fail("")
        tok = self.tokens[self.i]
        self.i += 1
        task, result = tok.group("task"), tok.group("result")
        if result is not None and result not in RESULTS:
            raise ManifestError(f"task result '{result}' for task '{task}' is invalid; expected "
                                f"one of {', '.join(RESULTS)}", self.where)
        return self.lookup(task, result or "")


def depends_tasks(expr: str, *, where: str | None = None) -> list[str]:
    """Names of the tasks a ``depends`` expression refers to, unique, in order of appearance.

    Also checks the syntax and the result names. ``a-b.Succeeded || c`` gives
    ``["a-b", "c"]``.

    Raises
    ------
    ManifestError
        Malformed expression or unknown result name.
    """
    names: dict[str, None] = {}

    def record(task: str, result: str) -> bool:
        names.setdefault(task)
        return False

    if expr.strip():
        _Parser(expr, record, where).parse()
    return list(names)


def expand_depends(expr: str, continue_on: ContinueOn | None = None) -> str:
    """Expand every bare task name ``T`` the way Argo does.

    ``T`` becomes ``(T.Succeeded || T.Skipped || T.Daemoned)``, with ``|| T.Errored`` added if
    ``continue_on[T][1]`` (``continueOn.error``) and then ``|| T.Failed`` if
    ``continue_on[T][0]`` (``continueOn.failed``). The rest of the text is kept as written.

    Parameters
    ----------
    expr : str
        A ``depends`` expression.
    continue_on : Mapping, optional
        Task name to ``(failed, error)`` flags of that task's ``continueOn``.
    """
    parts: list[str] = []
    pos = 0
    for tok in _scan(expr, None):
        if tok.group("task") is not None and tok.group("result") is None:
            parts += [expr[pos : tok.start()], _expand(tok.group("task"), continue_on)]
            pos = tok.end()
    return "".join(parts) + expr[pos:]


def dependencies_to_depends(deps: Sequence[str], continue_on: ContinueOn | None = None) -> str:
    """The ``depends`` expression equivalent to ``dependencies: [A, B, ...]``.

    The ``&&`` of each name's expansion (see :func:`expand_depends`); ``""`` for no names.

    Raises
    ------
    ManifestError
        A name is not a valid task name.
    """
    for name in deps:
        if not _NAME.fullmatch(name):
            raise ManifestError(f"invalid task name '{name}' in dependencies")
    return " && ".join(_expand(name, continue_on) for name in deps)


def evaluate_depends(expr: str, results: Mapping[str, TaskResult], *,
                     continue_on: ContinueOn | None = None, where: str | None = None) -> bool:
    """Evaluate a ``depends`` expression over finished tasks.

    Bare task names are expanded first (see :func:`expand_depends`). A blank expression is
    true (no dependencies).

    Parameters
    ----------
    expr : str
        E.g. ``"(a.Succeeded || b.Failed) && !c.Omitted"``.
    results : Mapping
        Task name to its :class:`TaskResult`; every referenced task must be present, as the
        scheduler evaluates only once all of them are fulfilled.
    continue_on : Mapping, optional
        Task name to ``(failed, error)``, for expanding bare names.
    where : str, optional
        Where the expression is, for error messages.

    Raises
    ------
    ManifestError
        Malformed expression, unknown result name, or a referenced task without a result.
    """

    def lookup(task: str, result: str) -> bool:
        if task not in results:
            raise ManifestError(f"depends expression '{expr}' refers to task '{task}', which has "
                                "no result", where)
        if not result:
            return any(results[task].holds(r) for r in _results_of(task, continue_on))
        return results[task].holds(result)

    return _Parser(expr, lookup, where).parse() if expr.strip() else True
