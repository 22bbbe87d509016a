"""The JSONPath of Argo's ``jsonpath(json, path)`` expression function (evilmonkeyinc/jsonpath):
``$``, ``.key``, ``['key']``, ``[n]``, ``[a,b]``, ``[*]``/``.*``, ``[start:end:step]``,
``..key`` and filters ``[?(@.age > 42 && @.name == 'x')]``. A path that selects one value gives
it; one with a wildcard, slice, filter, union or deep scan gives the list of what it selects."""

from __future__ import annotations

import re
from typing import Any

from ..errors import ManifestError
from ._exprfuncs import ExprError

__all__ = ["query"]

_STEP = re.compile(
    r"\.\.(?P<deep>[A-Za-z_$][\w$-]*|\*)"
    r"|\.(?P<dot>[A-Za-z_$][\w$-]*|\*)"
    r"|\[\s*(?P<bracket>\?\(.*?\)|[^\]]*)\s*\]"
)


def query(value: Any, path: str) -> Any:
    """Select from ``value`` (decoded JSON) what ``path`` names."""
    if not path.startswith("$"):
        raise ExprError(f"jsonpath: path {path!r} must start with '$'")
    current, many = [value], False
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ExprError(f"jsonpath: unsupported path {path!r} at {path[pos:]!r}")
        pos = m.end()
        if m.group("deep") is not None:
            current, many = [x for v in current for x in _deep(v, m.group("deep"))], True
        elif m.group("dot") is not None:
            name = m.group("dot")
            many = many or name == "*"
            current = [x for v in current for x in _children(v, name, path)]
        else:
            selected, multi = _bracket(current, m.group("bracket").strip(), path)
            current, many = selected, many or multi
    if many:
        return current
    if not current:
        raise ExprError(f"jsonpath: {path!r} selects nothing")
    return current[0]


def _children(value: Any, name: str, path: str) -> list[Any]:
    if name == "*":
        return list(value.values()) if isinstance(value, dict) else list(value) \
            if isinstance(value, list) else []
    if isinstance(value, dict) and name in value:
        return [value[name]]
    raise ExprError(f"jsonpath: {path!r}: no key {name!r}")


def _deep(value: Any, name: str) -> list[Any]:
    out: list[Any] = []
    if isinstance(value, dict):
        if name == "*":
            out += list(value.values())
        elif name in value:
            out.append(value[name])
        for v in value.values():
            out += _deep(v, name)
    elif isinstance(value, list):
        for v in value:
            out += ([v] if name == "*" else []) + _deep(v, name)
    return out


def _bracket(current: list[Any], inner: str, path: str) -> tuple[list[Any], bool]:
    if inner.startswith("?("):
        return [x for v in current for x in _filter(v, inner[2:-1])], True
    if inner == "*":
        return [x for v in current for x in _children(v, "*", path)], True
    if ":" in inner:
        parts = [int(p) if p.strip() else None for p in inner.split(":")]
        step = parts[2] if len(parts) > 2 else None
        return [x for v in current if isinstance(v, list) for x in v[parts[0]:parts[1]:step]], True
    keys = [k.strip() for k in inner.split(",")]
    out = []
    for v in current:
        for key in keys:
            if key[:1] in "'\"" and isinstance(v, dict):
                if key[1:-1] not in v:
                    raise ExprError(f"jsonpath: {path!r}: no key {key}")
                out.append(v[key[1:-1]])
            elif re.fullmatch(r"-?\d+", key) and isinstance(v, list):
                index = int(key)
                if not -len(v) <= index < len(v):
                    raise ExprError(f"jsonpath: {path!r}: index {index} out of range")
                out.append(v[index])
            else:
                raise ExprError(f"jsonpath: {path!r}: cannot select [{key}]")
    return out, len(keys) > 1


def _filter(value: Any, condition: str) -> list[Any]:
    from .expr import evaluate_expr  # filters are expressions over @ (the item)

    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, list):
        return []
    source = re.sub(r"@", "_at", condition)
    out = []
    for item in items:
        try:
            if evaluate_expr(source, {"_at": item}) is True:
                out.append(item)
        except ManifestError:  # an item the condition cannot read is not selected
            continue
    return out
