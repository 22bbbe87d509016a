"""Translate a task's Python-syntax ``.when()`` condition into an Argo (govaluate) ``when``."""

from __future__ import annotations

import ast
from collections.abc import Callable

from ..errors import SpecError
from ..model import OutputRef

_COMPARE = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}


def translate_when(condition: str, resolve: Callable[[OutputRef], str]) -> str:
    """Return the govaluate text of ``condition``.

    Parameters
    ----------
    condition : str
        Python-syntax condition, e.g. ``"accuracy > 0.9 and mode == 'fast'"``.
    resolve : callable
        Maps an :class:`OutputRef` (``accuracy`` or ``train.accuracy``) to the Argo tag that
        holds its JSON text, e.g. ``"{{tasks.train.outputs.parameters.accuracy}}"``.

    Output parameters hold JSON text, which govaluate reads as a literal: numbers stay
    numbers, ``true``/``false`` booleans, ``"text"`` a string.
    """
    try:
        tree = ast.parse(condition.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"condition {condition!r} is not valid: {exc.msg}") from None
    return _emit(tree.body, resolve, condition)


def _emit(node: ast.AST, resolve: Callable[[OutputRef], str], text: str) -> str:
    if isinstance(node, ast.BoolOp):
        joiner = " && " if isinstance(node.op, ast.And) else " || "
        return "(" + joiner.join(_emit(v, resolve, text) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return "!(" + _emit(node.operand, resolve, text) + ")"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return "-" + _emit(node.operand, resolve, text)
    if isinstance(node, ast.Compare):
        parts = []
        left = node.left
        for cmp, right in zip(node.ops, node.comparators):
            if type(cmp) not in _COMPARE:
                raise SpecError(
                    f"condition {text!r}: operator {type(cmp).__name__} is not supported"
                )
            parts.append(
                f"{_emit(left, resolve, text)} {_COMPARE[type(cmp)]} {_emit(right, resolve, text)}"
            )
            left = right
        return parts[0] if len(parts) == 1 else "(" + " && ".join(parts) + ")"
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return (
            f"({_emit(node.left, resolve, text)} {_BINARY[type(node.op)]} "
            f"{_emit(node.right, resolve, text)})"
        )
    if isinstance(node, ast.Constant):
        return _literal(node.value, text)
    if isinstance(node, ast.Name):
        return resolve(OutputRef(node.id))
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return resolve(OutputRef(node.attr, node.value.id))
    raise SpecError(
        f"condition {text!r}: {ast.unparse(node)!r} is not supported "
        "(use output names, literals, comparisons, and/or/not, + - * / %)"
    )


def _literal(value: object, text: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise SpecError(f"condition {text!r}: literal {value!r} is not supported")
