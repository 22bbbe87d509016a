"""Parser of the ``%%workflow`` cell body: task chains read with :mod:`ast`, never evaluated."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import SpecError
from .model import Task

__all__ = ["parse_workflow", "MAX_MAP_ITEMS"]

MAX_MAP_ITEMS = 10_000
"""Largest number of instances one ``.map()`` may create."""

_EXAMPLES = {
    "map": ".map(shard=[0, 1, 2])",
    "when": '.when("accuracy > 0.9")',
    "continue_on_fail": ".continue_on_fail()",
    "named": '.named("train_small")',
}
_METHODS = "tasks have .map(), .when(), .continue_on_fail() and .named()"
_STATEMENTS = {
    ast.Assign: "assignments",
    ast.AugAssign: "assignments",
    ast.AnnAssign: "assignments",
    ast.Import: "imports",
    ast.ImportFrom: "imports",
    ast.FunctionDef: "function definitions",
    ast.AsyncFunctionDef: "function definitions",
    ast.ClassDef: "class definitions",
}
_NOT_A_TASK = {
    ast.Attribute: "attribute access {} is not allowed; " + _METHODS,
    ast.Call: "call {} is not allowed: parameters go right after a template name, "
    "e.g. featurize(shard=3)",
    ast.Constant: "{} is not a task: expected a template name (strings go in .when() or .named())",
    ast.Tuple: "tuple {} is not allowed: use a list [a, b] for fan-out and fan-in",
    ast.BinOp: "operator in {} is not allowed: only >> chains tasks",
}
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod)
_LITERAL_ERRORS = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)
_Ends = dict[str, ast.expr]  # task name -> the node that mentions it


def parse_workflow(
    body: str, *, where: str | None = None, line_offset: int = 0
) -> tuple[Task, ...]:
    """Read the body of a ``%%workflow`` cell into tasks, without evaluating any of it.

    Parameters
    ----------
    body : str
        The cell text after the ``%%workflow`` line, e.g. ``"extract >> [a, b] >> train"``.
    where : str, optional
        Where the body comes from (``"cell 7"``), used in error messages.
    line_offset : int
        Added to line numbers in errors and tasks (1 when the magic line precedes ``body``).

    Returns
    -------
    tuple of Task
        In order of first mention, ``depends`` holding upstream task names.

    Raises
    ------
    SpecError
        On anything outside the language, with the line and column of the offending node.
    """
    try:
        tree = ast.parse(body, filename=where or "<workflow>")
    except SyntaxError as exc:
        line = None if exc.lineno is None else exc.lineno + line_offset
        raise SpecError(f"syntax error: {exc.msg}", where, line, exc.offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes; absurd nesting
        raise SpecError(f"cannot read the workflow: {exc}", where) from None
    parser = _Parser(body, where, line_offset)
    for stmt in tree.body:
        parser.statement(stmt)
    if not parser.drafts:
        raise SpecError("workflow has no tasks", where)
    return tuple(replace(d.task, depends=tuple(d.depends)) for d in parser.drafts.values())


@dataclass
class _Draft:
    """A task being assembled from its mentions."""

    task: Task
    depends: list[str] = field(default_factory=list)
    configured_line: int | None = None


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _attr(call: ast.Call) -> ast.AST:
    """A location node for the method name of ``x.method(...)`` (rather than for ``x``)."""
    func = call.func
    assert isinstance(func, ast.Attribute)
    col = (func.end_col_offset or 0) - len(func.attr.encode())
    return ast.Name(func.attr, lineno=func.end_lineno or func.lineno, col_offset=col)


class _Parser:
    """Walks statements, collecting tasks and edges; every error points at a node."""

    def __init__(self, source: str, where: str | None, line_offset: int) -> None:
        self.source = source
        self.lines = re.split(r"\r\n|\r|\n", source)
        self.where = where
        self.offset = line_offset
        self.drafts: dict[str, _Draft] = {}

    def loc(self, node: Any) -> tuple[int, int]:
        """1-based line (offset applied) and character column of ``node``."""
        before = self.lines[node.lineno - 1].encode()[: node.col_offset]
        return node.lineno + self.offset, len(before.decode("utf-8", "replace")) + 1

    def error(self, message: str, node: Any, shift: int = 0) -> SpecError:
        line, col = self.loc(node)
        return SpecError(message, self.where, line, col + shift)

    def statement(self, stmt: ast.stmt) -> None:
        if not isinstance(stmt, ast.Expr):
            kind = _STATEMENTS.get(type(stmt), f"'{type(stmt).__name__.lower()}' statements")
            raise self.error(
                f"{kind} are not allowed in a workflow: write task chains "
                "such as a >> [b, c] >> d, one per line",
                stmt,
            )
        try:
            self.chain(stmt.value)
        except RecursionError:
            raise self.error("statement is nested too deeply", stmt) from None

    def chain(self, node: ast.expr) -> tuple[_Ends, _Ends]:
        """Register the tasks of ``node`` and its edges; return its first and last tasks."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            heads, ups = self.chain(node.left)
            downs, tails = self.chain(node.right)
            for down, mention in downs.items():
                for up in ups:
                    if down == up:
                        raise self.error(f"task {down!r} cannot depend on itself", mention)
                    if up not in self.drafts[down].depends:
                        self.drafts[down].depends.append(up)
            return heads, tails
        if isinstance(node, ast.List):
            if not node.elts:
                raise self.error("empty list: a list needs at least one task", node)
            heads, tails = {}, {}
            for first, last in map(self.chain, node.elts):
                heads.update({k: v for k, v in first.items() if k not in heads})
                tails.update({k: v for k, v in last.items() if k not in tails})
            return heads, tails
        name = self.mention(node)
        return {name: node}, {name: node}

    def mention(self, node: ast.expr) -> str:
        """Register one task reference, ``template(k=v).method(...)...``; return its name."""
        methods: list[tuple[str, ast.Call]] = []
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr not in _EXAMPLES:
                raise self.error(f"unknown method .{node.func.attr}(); {_METHODS}", _attr(node))
            methods.append((node.func.attr, node))
            node = node.func.value
        options: dict[str, Any] = {}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            options["arguments"] = self.arguments(node)
            node = node.func
        if not isinstance(node, ast.Name):
            message = _NOT_A_TASK.get(
                type(node),
                "{} is not allowed here: expected a template "
                "name, a list of tasks or a chain a >> b",
            )
            raise self.error(message.format(_snippet(node)), node)
        name, seen = node.id, set()
        for method, call in reversed(methods):
            if method in seen:
                raise self.error(f".{method}() is given twice for task {name!r}", _attr(call))
            seen.add(method)
            if method == "named":
                name = self.string_arg(call, method)
            else:
                options.update(getattr(self, method)(call))
        return self.register(name, node, options, explicit=bool(options) or "named" in seen)

    def register(self, name: str, node: ast.Name, options: dict[str, Any], explicit: bool) -> str:
        line, col = self.loc(node)
        draft = self.drafts.setdefault(name, _Draft(Task(name, node.id, line=line, col=col)))
        if explicit and draft.task.template != node.id:
            raise self.error(
                f"task {name!r} runs template {draft.task.template!r} (line "
                f"{draft.task.line}), not {node.id!r}",
                node,
            )
        if options:
            if draft.configured_line is not None:
                raise self.error(
                    f"task {name!r} is configured twice (line "
                    f"{draft.configured_line} and line {line})",
                    node,
                )
            draft.task = replace(draft.task, **options)
            draft.configured_line = line
        return name

    def arguments(self, call: ast.Call) -> dict[str, Any]:
        """Parameters of ``template(k=v, ...)``, all literals."""
        if call.args:
            raise self.error(
                f"positional argument in {_snippet(call)}: give parameters by name, "
                f"e.g. {ast.unparse(call.func)}(shard=3)",
                call.args[0],
            )
        return {k: self.literal(v, f"parameter {k!r}") for k, v in self.keywords(call)}

    def keywords(self, call: ast.Call) -> list[tuple[str, ast.expr]]:
        """The ``name=value`` arguments of ``call``; ``**mapping`` is an error."""
        for kw in call.keywords:
            if kw.arg is None:
                raise self.error(
                    f"'**' in {_snippet(call)} is not allowed: name each parameter", kw
                )
        return [(kw.arg, kw.value) for kw in call.keywords if kw.arg is not None]

    def literal(self, node: ast.expr, what: str) -> Any:
        """``ast.literal_eval`` of ``node``; on failure, point at the offending sub-node."""
        try:
            return ast.literal_eval(node)
        except _LITERAL_ERRORS:
            bad = _non_literal(node)
            raise self.error(
                f"{what} must be a Python literal (number, string, True, False, "
                f"None, or a list, tuple or dict of them), not {_snippet(bad)}",
                bad,
            ) from None

    def string_arg(self, call: ast.Call, method: str) -> str:
        arg = call.args[0] if len(call.args) == 1 and not call.keywords else None
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
            return arg.value
        raise self.error(
            f".{method}() takes one non-empty string, e.g. {_EXAMPLES[method]}", arg or _attr(call)
        )

    def continue_on_fail(self, call: ast.Call) -> dict[str, Any]:
        if call.args or call.keywords:
            raise self.error(".continue_on_fail() takes no arguments", _attr(call))
        return {"continue_on_fail": True}

    def when(self, call: ast.Call) -> dict[str, Any]:
        text, node = self.string_arg(call, "when"), call.args[0]
        # Point inside the string when it is written plainly (no prefix, escapes or triple quotes).
        plain = ast.get_source_segment(self.source, node) in (f'"{text}"', f"'{text}'")
        lead = len(text) - len(text.lstrip())
        try:
            tree = ast.parse(text.lstrip(), mode="eval")
        except (SyntaxError, ValueError) as exc:  # ValueError: null bytes on Python 3.10
            end = len(text.lstrip()) + 1  # Python gives offset 0 at the end of the input
            offset, msg = getattr(exc, "offset", None), getattr(exc, "msg", str(exc))
            shift = lead + min(offset or end, end) if plain else 0
            raise self.error(
                f"condition {text!r} is not a valid expression: {msg}", node, shift
            ) from None
        bad = _bad_condition(tree.body)
        if bad is not None:
            inner = len(text.lstrip().encode()[: bad.col_offset].decode())
            shift = lead + 1 + inner if plain else 0
            raise self.error(
                f"condition {text!r}: {_snippet(bad)} is not allowed; use names, "
                "task.output, literals, comparisons, and/or/not and + - * / %",
                node,
                shift,
            )
        return {"when": text}

    def map(self, call: ast.Call) -> dict[str, Any]:
        if call.args or not call.keywords:
            raise self.error(
                f"{_snippet(call)}: give each mapped parameter by name, e.g. {_EXAMPLES['map']}",
                _attr(call),
            )
        items = {key: self.map_values(key, value) for key, value in self.keywords(call)}
        if len({len(v) for v in items.values()}) > 1:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in items.items())
            raise self.error(
                f".map() lists are zipped and must have the same length ({sizes})", _attr(call)
            )
        return {"map_items": items}

    def map_values(self, key: str, node: ast.expr) -> list[Any]:
        what = f".map({key}=...)"
        if isinstance(node, (ast.Name, ast.Attribute)):
            raise self.error(
                f"{what}: mapping over upstream outputs is not supported yet; "
                f"give a literal list or range(...), not {_snippet(node)}",
                node,
            )
        values: range | list[Any]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "range"
        ):
            args = [self.literal(a, f"range() argument in {what}") for a in node.args]
            if (
                node.keywords
                or not 1 <= len(args) <= 3
                or any(type(a) is not int for a in args)
                or (len(args) == 3 and args[2] == 0)
            ):
                raise self.error(
                    f"{_snippet(node)}: range() takes 1 to 3 integers (and a non-zero step)", node
                )
            values = range(*args)
        elif isinstance(node, (ast.List, ast.Tuple)):
            values = list(self.literal(node, what))
        else:
            raise self.error(
                f"{what} takes a list, a tuple or range(...), not {_snippet(node)}", node
            )
        if len(values) > MAX_MAP_ITEMS:
            raise self.error(
                f"{what} has {len(values)} items; at most {MAX_MAP_ITEMS} allowed", node
            )
        return list(values)


def _non_literal(node: ast.expr) -> ast.expr:
    """The innermost sub-node of a container literal that ``literal_eval`` rejects."""
    children: list[ast.expr | None] = []
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        children = list(node.elts)
    elif isinstance(node, ast.Dict):
        children = [*node.keys, *node.values]
    for child in children:
        if child is None:  # ``{**x}``
            return node
        try:
            ast.literal_eval(child)
        except _LITERAL_ERRORS:
            return _non_literal(child)
    return node


def _bad_condition(node: ast.expr) -> ast.expr | None:
    """The first node of a ``.when()`` condition outside the allowed subset, or ``None``."""
    children: list[ast.expr]
    if isinstance(node, ast.Name):
        return None
    if isinstance(node, ast.Attribute):
        return None if isinstance(node.value, ast.Name) else node
    if isinstance(node, ast.Constant):
        return None if type(node.value) in (int, float, str, bool, type(None)) else node
    if isinstance(node, ast.Compare) and all(isinstance(op, _COMPARE) for op in node.ops):
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.BoolOp):
        children = node.values
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        children = [node.operand]
    elif isinstance(node, ast.BinOp) and isinstance(node.op, _ARITH):
        children = [node.left, node.right]
    else:
        return node
    return next((bad for c in children if (bad := _bad_condition(c)) is not None), None)
