"""Evaluation of ``when`` conditions with govaluate's types and messages, as Argo uses it."""

from __future__ import annotations

from typing import Any

from ._exprfuncs import ORDER, ExprError, float_arith, go_str, is_num, regex_match
from ._exprparse import Node


def evaluate(node: Node) -> Any:
    """Evaluate a ``WHEN`` node as govaluate does; words are already strings."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "list":
        return [evaluate(n) for n in node[1]]
    if kind == "accessor":
        raise ExprError(f"No parameter '{node[1]}' found.")
    if kind == "unary":
        return _unary(node[1], evaluate(node[2]))
    if kind == "cond":
        return evaluate(node[2] if _need_bool("?", evaluate(node[1])) else node[3])
    op, left = node[1], evaluate(node[2])
    if op in ("&&", "||"):
        if _need_bool(op, left) == (op == "||"):
            return left
        return _need_bool(op, evaluate(node[3]))
    if op == "??":
        return left if left is not None else evaluate(node[3])
    return _binary(op, left, evaluate(node[3]))


def _need_bool(op: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"Value '{go_str(v)}' cannot be used with the logical operator '{op}', "
                        "it is not a bool")
    return v


def _unary(op: str, v: Any) -> Any:
    if op == "!":
        if not isinstance(v, bool):
            raise ExprError(f"Value '{go_str(v)}' cannot be used with the prefix '!', "
                            "it is not a bool")
        return not v
    if not is_num(v):
        raise ExprError(f"Value '{go_str(v)}' cannot be used with the prefix '-', "
                        "it is not a number")
    return -v


def _binary(op: str, a: Any, b: Any) -> Any:
    if op in ("==", "!="):
        return (type(a) is type(b) and a == b) == (op == "==")
    if op == "in":
        if not isinstance(b, list):
            raise ExprError(f"Value '{go_str(b)}' cannot be used with the comparator 'in', "
                            "it is not an array")
        return any(type(a) is type(x) and a == x for x in b)
    if op in ("=~", "!~"):
        return regex_match(a, b) == (op == "=~")
    if op in ORDER:
        if not (is_num(a) and is_num(b)) and not (isinstance(a, str) and isinstance(b, str)):
            # govaluate checks both sides together and names the left one
            raise ExprError(f"Value '{go_str(a)}' cannot be used with the comparator '{op}', "
                            "it is not a number")
        return ORDER[op](a, b)
    if op == "+" and not (is_num(a) and is_num(b)) and (isinstance(a, str) or isinstance(b, str)):
        return go_str(a) + go_str(b)
    for v in (a, b):
        if not is_num(v):
            raise ExprError(f"Value '{go_str(v)}' cannot be used with the modifier '{op}', "
                            "it is not a number")
    return float_arith(op, float(a), float(b))
