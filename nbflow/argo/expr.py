"""Evaluate Argo expressions: ``when`` conditions (govaluate) and ``{{= }}`` tags (expr-lang)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ..errors import ManifestError
from ._exprclosures import call_closure
from ._exprfuncs import (
    BUILTINS,
    ORDER,
    SPRIG,
    ExprError,
    float_arith,
    go_json,
    go_str,
    go_type,
    is_num,
    regex_match,
)
from ._exprlex import EXPR, WHEN
from ._exprparse import CLOSURE_FUNCS, Node, Parser
from ._exprsprig import MORE_SPRIG
from ._govaluate import evaluate as evaluate_govaluate

__all__ = ["evaluate_when", "evaluate_expr", "argo_text"]


@lru_cache(maxsize=1024)
def _parse(text: str, dialect: str) -> Node:
    return Parser(text, WHEN if dialect == "when" else EXPR).parse()


def evaluate_when(expr: str, *, where: str | None = None) -> bool:
    """Evaluate an already-substituted ``when`` condition as Argo does (govaluate).

    Bare words are strings (``heads == heads`` is true), numbers are floats, and the
    operators are ``== != < <= > >= =~ !~ in && || ! + - * / % ** ?? ?:`` with parentheses;
    ``x in (a, b)`` tests membership. A blank condition is true. As in Argo's
    ``shouldExecute`` (``steps.go``), a bare word is a string, not a govaluate parameter; a
    dotted word (``a.B``) is still an accessor and fails with ``No parameter 'a' found.``
    Not supported: govaluate's bitwise operators and its reading of date-like strings as times.

    Parameters
    ----------
    expr : str
        The condition after ``{{...}}`` substitution.
    where : str, optional
        Where the condition is (e.g. ``"task train"``), for error messages.

    Returns
    -------
    bool

    Raises
    ------
    ManifestError
        The condition does not parse, fails to evaluate, or is not boolean. Messages follow
        Argo's: ``Invalid 'when' expression '...': ...``, ``Failed to evaluate 'when'
        expression '...': ...``, ``Expected boolean evaluation for '...'. Got ...``.
    """
    if not expr.strip():
        return True
    try:
        node = _parse(expr, "when")
    except ExprError as exc:
        hint = ' (hint: try wrapping the affected expression in quotes ("))'
        hint = hint if str(exc).startswith("Invalid token") else ""
        raise ManifestError(f"Invalid 'when' expression '{expr}': {exc}{hint}", where) from None
    try:
        result = evaluate_govaluate(node)
    except ExprError as exc:
        message = f"Failed to evaluate 'when' expression '{expr}': {exc}"
        raise ManifestError(message, where) from None
    if not isinstance(result, bool):
        message = f"Expected boolean evaluation for '{expr}'. Got {go_str(result)}"
        raise ManifestError(message, where)
    return result


def evaluate_expr(expr: str, variables: Mapping[str, Any], *, where: str | None = None) -> Any:
    """Evaluate an expr-lang expression, the language of Argo's ``{{= }}`` tags.

    Supported: literals (ints, floats, strings, ``true false nil``, ``[..]``, ``{k: v}``),
    names, ``a.b``, ``a?.b``, ``a['b-c']``, ``a[0]``, ``a[1:3]``, ``+ - * / % ** ^``,
    comparisons (chainable), ``== != in not in matches contains startsWith endsWith ..``,
    ``and or not && || !``, ``c ? a : b``, ``??``; the builtins ``asInt int asFloat float
    string len toJson toJSON fromJSON jsonpath abs upper lower trim split join replace
    hasPrefix hasSuffix keys values first last max min`` and ``sprig.<fn>`` (see
    ``nbflow/argo/_exprfuncs.py``). A missing name, a missing map key, and any member of nil
    evaluate to nil, so ``tasks.a.outputs.parameters.p ?? 'x'`` works when ``a`` has no output.

    Parameters
    ----------
    expr : str
        Expression source, without the ``{{=`` and ``}}``.
    variables : Mapping
        Top-level names; nested values are dicts and lists.
    where : str, optional
        Where the expression is, for error messages.

    Returns
    -------
    Any
        A str, int, float, bool, None, list or dict.

    Raises
    ------
    ManifestError
        Syntax error, type error, unknown function: ``failed to evaluate expression '...': ...``.
    """
    try:
        return _Eval(variables).run(_parse(expr, "expr"))
    except ExprError as exc:
        raise ManifestError(f"failed to evaluate expression '{expr}': {exc}", where) from None


def argo_text(value: Any) -> str:
    """Render an expression result the way Argo writes it into a manifest.

    Strings as they are; everything else as Go's ``json.Marshal`` writes it: integers without
    a decimal point, floats in their shortest form (``3.0`` is ``3``), ``true``/``false``,
    lists and maps as compact JSON with sorted keys.

    Raises
    ------
    ManifestError
        The value is nil or a float that JSON cannot hold (NaN, infinity).
    """
    if value is None:
        raise ManifestError("expression evaluated to nil")
    if isinstance(value, str):
        return value
    try:
        return go_json(value)
    except ExprError as exc:
        raise ManifestError(f"failed to marshal evaluated expression: {exc}") from None


def _equal(a: Any, b: Any) -> bool:
    if is_num(a) and is_num(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _mismatch(op: str, a: Any, b: Any) -> ExprError:
    return ExprError(f"invalid operation: {op} (mismatched types {go_type(a)} and {go_type(b)})")


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and type(a) is type(b) and isinstance(a, (str, list)):
        return a + b
    if not (is_num(a) and is_num(b)):
        raise _mismatch(op, a, b)
    if op == "%":
        if not (isinstance(a, int) and isinstance(b, int)):
            raise _mismatch(op, a, b)
        if b == 0:
            raise ExprError("integer divide by zero")
        rest = abs(a) % abs(b)
        return -rest if a < 0 else rest  # Go's % keeps the dividend's sign
    if op in ("/", "**", "^") or isinstance(a, float) or isinstance(b, float):
        return float_arith(op, float(a), float(b))
    return {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](a, b)


def _binary_value(op: str, a: Any, b: Any) -> Any:
    if op in ("==", "!="):
        return _equal(a, b) == (op == "==")
    if op in ORDER:
        if (is_num(a) and is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
            return ORDER[op](a, b)
        raise _mismatch(op, a, b)
    if op == "in":
        if isinstance(b, dict):
            return isinstance(a, str) and a in b
        if isinstance(b, list):
            return any(_equal(a, x) for x in b)
        raise ExprError(f"operator \"in\" not defined on {go_type(b)}")
    if op == "matches":
        return regex_match(a, b)
    if op in ("contains", "startsWith", "endsWith"):
        if not (isinstance(a, str) and isinstance(b, str)):
            raise _mismatch(op, a, b)
        return {"contains": str.__contains__, "startsWith": str.startswith,
                "endsWith": str.endswith}[op](a, b)
    if op == "..":
        if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool):
            raise _mismatch(op, a, b)
        return list(range(a, b + 1))
    return _arith(op, a, b)


class _Eval:
    """Tree-walking evaluator of expr-lang nodes over one set of variables."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.vars = variables
        self.frames: list[dict[str, Any]] = []  # the closures being run: #, #index, #acc

    def run(self, node: Node) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "pointer":
            return self.pointer(node[1])
        if kind == "name":
            return self.vars.get(node[1])
        if kind == "list":
            return [self.run(n) for n in node[1]]
        if kind == "map":
            return {self.run(k): self.run(v) for k, v in node[1]}
        if kind == "member":
            return self.member(self.run(node[1]), self.run(node[2]))
        if kind == "slice":
            return self.slice(self.run(node[1]), node[2], node[3])
        if kind == "call":
            if any(n[0] == "closure" for n in node[2]):
                return self.closure_call(node[1][1], node[2])
            return self.call(node[1], [self.run(n) for n in node[2]])
        if kind == "unary":
            return self.unary(node[1], self.run(node[2]))
        if kind == "cond":
            cond = self.run(node[1])
            if not isinstance(cond, bool):
                raise ExprError(f"non-bool expression (type {go_type(cond)}) used as condition")
            return self.run(node[2] if cond else node[3])
        return self.binary(node[1], node[2], node[3])

    def binary(self, op: str, left_node: Node, right_node: Node) -> Any:
        left = self.run(left_node)
        if op == "??":
            return left if left is not None else self.run(right_node)
        if op in ("and", "&&", "or", "||"):
            is_or = op in ("or", "||")
            if self.need_bool(op, left) == is_or:
                return left
            return self.need_bool(op, self.run(right_node))
        return _binary_value(op, left, self.run(right_node))

    @staticmethod
    def need_bool(op: str, v: Any) -> bool:
        if not isinstance(v, bool):
            raise ExprError(f"invalid operation: {op} (non-bool operand of type {go_type(v)})")
        return v

    def unary(self, op: str, v: Any) -> Any:
        if op in ("not", "!"):
            return not self.need_bool(op, v)
        if not is_num(v):
            raise ExprError(f"invalid operation: {op} (mismatched type {go_type(v)})")
        return -v if op == "-" else v

    @staticmethod
    def member(obj: Any, key: Any) -> Any:
        if obj is None:
            return None
        if isinstance(obj, dict):
            return obj.get(key) if isinstance(key, str) else None
        if isinstance(obj, (list, str)) and isinstance(key, int) and not isinstance(key, bool):
            index = key + len(obj) if key < 0 else key
            if not 0 <= index < len(obj):
                raise ExprError(f"index out of range: {key} (array length is {len(obj)})")
            return obj[index]
        raise ExprError(f"cannot fetch {go_str(key)} from {go_type(obj)}")

    def slice(self, obj: Any, low_node: Node | None, high_node: Node | None) -> Any:
        if not isinstance(obj, (list, str)):
            raise ExprError(f"cannot slice {go_type(obj)}")
        low = 0 if low_node is None else self.run(low_node)
        high = len(obj) if high_node is None else self.run(high_node)
        for index in (low, high):
            if not isinstance(index, int) or isinstance(index, bool):
                raise ExprError(f"invalid slice index {go_str(index)}")
        return obj[low:high]

    def call(self, callee: Node, args: list[Any]) -> Any:
        name, func = self.function(callee)
        try:
            return func(*args)
        except ExprError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError,
                OverflowError) as exc:
            raise ExprError(f"invalid arguments for {name}(): {exc}") from None

    def pointer(self, name: str) -> Any:
        if not self.frames:
            raise ExprError("# outside a closure")
        frame = self.frames[-1]
        key = name or "#"
        if key not in frame:
            raise ExprError(f"unknown pointer #{name}")
        return frame[key]

    def closure_call(self, name: str, arg_nodes: list[Node]) -> Any:
        body = next(n[1] for n in arg_nodes if n[0] == "closure")
        args = [self.run(n) for n in arg_nodes if n[0] != "closure"]

        def closure(item: Any, index: int, acc: Any) -> Any:
            self.frames.append({"#": item, "index": index, "acc": acc})
            try:
                return self.run(body)
            finally:
                self.frames.pop()

        return call_closure(name, args, closure)

    def function(self, callee: Node) -> tuple[str, Callable[..., Any]]:
        if callee[0] == "name":
            name = callee[1]
            if name in CLOSURE_FUNCS and name not in BUILTINS:
                return name, lambda *args: call_closure(name, list(args), None)
            func = BUILTINS.get(name) or self.vars.get(name)
            if callable(func):
                return name, func
            raise ExprError(f"unknown function {name}()")
        if callee[0] == "member" and callee[1] == ("name", "sprig") and callee[2][0] == "lit":
            name = f"sprig.{callee[2][1]}"
            func = SPRIG.get(callee[2][1]) or MORE_SPRIG.get(callee[2][1])
            if func is not None:
                return name, func
            raise ExprError(f"unknown function {name}()")
        raise ExprError("only named functions can be called")
