"""What DAG tasks and steps share: resolving a call's arguments, artifact references and items."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import ManifestError
from .nodes import Node
from .scope import Scope

__all__ = ["arguments", "items", "Finder"]

# Finds the node a reference names: ("tasks" | "steps", name) -> node or None
Finder = Callable[[str, str], "Node | None"]


def arguments(call: dict[str, Any], scope: Scope, find: Finder) -> dict[str, Any]:
    """Resolve a task's or step's ``arguments``: substitute parameters, follow artifact ``from``."""
    from ..argo.subst import substitute_obj

    where = f"task {call['name']}"
    args = call.get("arguments") or {}
    out: dict[str, Any] = {}
    if args.get("parameters"):
        out["parameters"] = substitute_obj(args["parameters"], scope, where=where)
    arts = []
    for a in args.get("artifacts") or []:
        if "from" in a:
            arts.append({"name": a["name"], **_artifact_from(a["from"], find, where)})
        else:
            arts.append(substitute_obj(a, scope, where=where))
    if arts:
        out["artifacts"] = arts
    return out


def _artifact_from(ref: str, find: Finder, where: str) -> dict[str, Any]:
    parts = ref.strip().removeprefix("{{").removesuffix("}}").strip().split(".")
    kind_ok = parts[0] in ("tasks", "steps")
    if len(parts) != 5 or not kind_ok or parts[2:4] != ["outputs", "artifacts"]:
        raise ManifestError(f"cannot resolve artifact reference {ref!r}", where)
    producer = find(parts[0], parts[1])
    for art in ((producer or {}).get("outputs") or {}).get("artifacts") or []:
        if art["name"] == parts[4]:
            return {k: v for k, v in art.items() if k not in ("name", "path")}
    raise ManifestError(
        f"failed to resolve {ref}: {parts[1]!r} has no output artifact {parts[4]!r}", where
    )


def items(call: dict[str, Any], scope: Scope) -> list[Any]:
    """The items of a ``withItems`` / ``withParam`` / ``withSequence`` call."""
    if "withItems" in call:
        return list(call["withItems"])
    if "withParam" in call:
        from ..argo.subst import substitute

        text = substitute(call["withParam"], scope, where=f"task {call['name']}")
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        if not isinstance(values, list):
            raise ManifestError(
                "withParam value could not be parsed as a JSON list", f"task {call['name']}"
            )
        return values
    seq = call["withSequence"]
    start = int(seq.get("start", 0))
    if "count" in seq:
        numbers = range(start, start + int(seq["count"]))
    else:
        end = int(seq["end"])
        numbers = range(start, end + 1) if end >= start else range(start, end - 1, -1)
    return [seq.get("format", "%d") % i for i in numbers]


def expansion(call: dict[str, Any]) -> bool:
    """Whether the call runs once per item."""
    return any(k in call for k in ("withItems", "withParam", "withSequence"))
