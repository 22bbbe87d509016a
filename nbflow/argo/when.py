"""Translate a task's Python-syntax ``.when()`` condition into an Argo ``when``.

The condition becomes one expression tag, ``{{= ... }}``, in which every upstream output is a
value read from its JSON text (``jsonpath(tasks['t'].outputs.parameters['x'], '$')``), never
text spliced into the condition: whatever string a step outputs, it cannot change the
condition's shape. Argo evaluates the tag with expr-lang, then reads its ``true``/``false``.
"""

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
    """Return the Argo ``when`` of ``condition``: an expression tag.

    Parameters
    ----------
    condition : str
        Python-syntax condition, e.g. ``"accuracy > 0.9 and mode == 'fast'"``.
    resolve : callable
        Maps an :class:`OutputRef` (``accuracy`` or ``train.accuracy``) to the expression of the
        output parameter holding its JSON text, e.g.
        ``"tasks['train'].outputs.parameters['accuracy']"``.
    """
    try:
        tree = ast.parse(condition.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"condition {condition!r} is not valid: {exc.msg}") from None
    return "{{=" + _emit(tree.body, resolve, condition) + "}}"


def _value(ref: OutputRef, resolve: Callable[[OutputRef], str]) -> str:
    """An output as a value: its JSON text parsed (numbers, booleans, strings, lists)."""
    return f"jsonpath({resolve(ref)}, '$')"


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
        return _value(OutputRef(node.id), resolve)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return _value(OutputRef(node.attr, node.value.id), resolve)
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
        # expr-lang's Go escapes; braces too, so that no '}}' ends the tag inside a literal
        body = value.replace("\\", "\\\\").replace("'", "\\'")
        return "'" + body.replace("{", "\\u007b").replace("}", "\\u007d") + "'"
    raise SpecError(f"condition {text!r}: literal {value!r} is not supported")
