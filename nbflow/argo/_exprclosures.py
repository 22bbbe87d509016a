"""expr-lang's builtins that take a closure (``filter(xs, {# > 1})``, ``map``, ``all``, ``reduce``,
...), and its numeric array builtins (``sum``, ``mean``, ``median``)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from ._exprfuncs import ExprError, go_str, go_type, is_num

__all__ = ["call_closure"]

# (item, index, accumulator) -> the closure's value
Closure = Callable[[Any, int, Any], Any]


def _array(name: str, value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if not isinstance(value, (list, tuple)):
        raise ExprError(f"builtin {name} takes only array (got {go_type(value)})")
    return list(value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"predicate of {name} must return bool (got {go_type(value)})")
    return value


def _numbers(name: str, values: list[Any]) -> list[Any]:
    for v in values:
        if not is_num(v):
            raise ExprError(f"invalid argument for {name} (type {go_type(v)})")
    return values


def call_closure(name: str, args: list[Any], closure: Closure | None) -> Any:
    """Run builtin ``name`` over ``args[0]`` with ``closure`` (``None``: no closure given)."""
    items = _array(name, args[0] if args else None)

    def test(i: int, x: Any) -> bool:
        if closure is None:
            return bool(x)
        return _bool(name, closure(x, i, None))

    if name in ("sum", "mean", "median"):
        values = [closure(x, i, None) for i, x in enumerate(items)] if closure else items
        values = _numbers(name, values)
        if name == "sum":
            return sum(values) if values else 0
        if not values:
            return 0.0
        return float(statistics.mean(values) if name == "mean" else statistics.median(values))
    if closure is None and name not in ("count",):
        raise ExprError(f"{name} needs a predicate")
    assert closure is not None or name == "count"
    if name == "filter":
        return [x for i, x in enumerate(items) if test(i, x)]
    if name == "map":
        return [closure(x, i, None) for i, x in enumerate(items)]  # type: ignore[misc]
    if name in ("all", "none", "any", "one", "count"):
        hits = sum(1 for i, x in enumerate(items) if test(i, x))
        return {"all": hits == len(items), "none": hits == 0, "any": hits > 0,
                "one": hits == 1, "count": hits}[name]
    if name in ("find", "findIndex", "findLast", "findLastIndex"):
        order = range(len(items)) if not name.startswith("findLast") else range(len(items) - 1,
                                                                                 -1, -1)
        for i in order:
            if test(i, items[i]):
                return i if name.endswith("Index") else items[i]
        return -1 if name.endswith("Index") else None
    if name == "groupBy":
        groups: dict[str, list[Any]] = {}
        for i, x in enumerate(items):
            groups.setdefault(go_str(closure(x, i, None)), []).append(x)  # type: ignore[misc]
        return groups
    if name == "sortBy":
        descending = len(args) > 1 and args[1] == "desc"
        keyed = [(closure(x, i, None), x) for i, x in enumerate(items)]  # type: ignore[misc]
        return [x for _, x in sorted(keyed, key=lambda kx: kx[0], reverse=descending)]
    if name == "reduce":
        if len(args) > 1:
            acc, start = args[1], 0
        elif items:
            acc, start = items[0], 1
        else:
            raise ExprError("reduce of empty array with no initial value")
        for i in range(start, len(items)):
            acc = closure(items[i], i, acc)  # type: ignore[misc]
        return acc
    raise ExprError(f"unknown function {name}()")
