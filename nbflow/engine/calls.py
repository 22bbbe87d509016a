"""Calls of templates: a call's arguments, artifact references and items, the inputs they bind,
and the substituted template a pod runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError
from ..model.values import parse_duration
from ..vocab import LOOP_FIELDS
from .nodes import Node
from .pod import PodRequest
from .scope import Scope

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["arguments", "items", "expansion", "bind_inputs", "pod_request", "FindNode"]


# Finds the node a reference names: ("tasks" | "steps", name) -> node or None
FindNode = Callable[[str, str], "Node | None"]


def arguments(call: dict[str, Any], scope: Scope, find: FindNode) -> dict[str, Any]:
    """Resolve a task's or step's ``arguments``: substitute parameters, follow artifact ``from``."""
    from ..argo.subst import substitute_obj

    where = f"task {call['name']}"
    args = call.get("arguments") or {}
    out: dict[str, Any] = {}
    if args.get("parameters"):
        given = [p for p in args["parameters"] if not _absent_reference(p.get("value"), scope)]
        out["parameters"] = substitute_obj(given, scope, where=where)
    arts = []
    for a in args.get("artifacts") or []:
        if "from" in a:
            extra = {k: v for k, v in a.items() if k in ("subPath", "optional")}
            extra = substitute_obj(extra, scope, where=where)
            arts.append(
                {"name": a["name"], **_artifact_from(a["from"], scope, find, where), **extra}
            )
        else:
            arts.append(substitute_obj(a, scope, where=where))
    if arts:
        out["artifacts"] = arts
    return out


# An argument that is one reference to a producer's output, and nothing else.
_PURE_REFERENCE = re.compile(
    r"\{\{\s*(tasks|steps)\.[^.{}\s]+\.outputs\.(parameters\.[^{}\s]+|result)\s*\}\}"
)


def _absent_reference(value: Any, scope: Scope) -> bool:
    """Whether ``value`` is solely a reference to an output its Skipped or Omitted producer
    never gave: the argument is then left out, so that the input's default applies."""
    if not isinstance(value, str) or not _PURE_REFERENCE.fullmatch(value.strip()):
        return False
    name = value.strip()[2:-2].strip()
    producer = ".".join(name.split(".")[:2])
    status = scope.get(f"{producer}.status")
    return status in ("Skipped", "Omitted") and name not in scope


def _artifact_from(ref: str, scope: Scope, find: FindNode, where: str) -> dict[str, Any]:
    """The artifact a ``from`` names: a value of the scope (``tasks.x.outputs.artifacts.y``,
    ``inputs.artifacts.y``, ``workflow.outputs.artifacts.y``), else the producer's node."""
    name = ref.strip().removeprefix("{{").removesuffix("}}").strip()
    value = scope.get(name)
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("name", "path")}
    parts = name.split(".")
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
    from ..argo.subst import substitute_obj

    where = f"task {call['name']}, withSequence"
    seq = substitute_obj(call["withSequence"], scope, where=where)
    try:
        start = int(seq.get("start", 0))
        if "count" in seq:
            numbers = range(start, start + int(seq["count"]))
        else:
            end = int(seq["end"])
            numbers = range(start, end + 1) if end >= start else range(start, end - 1, -1)
    except ValueError as exc:
        raise ManifestError(f"not a number: {exc}", where) from None
    return [_format(seq.get("format"), i) for i in numbers]


def _format(fmt: str | None, number: int) -> str:
    """``withSequence.format`` as Go's ``fmt.Sprintf`` (its ``%X``, ``%x``, ``%o`` too)."""
    if not fmt:
        return str(number)
    try:
        return fmt % number
    except (TypeError, ValueError):
        raise ManifestError(f"withSequence format {fmt!r} is not a format of one number") from None


def expansion(call: dict[str, Any]) -> bool:
    """Whether the call runs once per item."""
    return any(k in call for k in LOOP_FIELDS)


def bind_inputs(
    tmpl: dict[str, Any],
    args: dict[str, Any],
    where: str,
    scope: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Bind a template's declared inputs to the call's arguments (or their defaults).

    A value or default the template itself declares may hold tags: they are substituted in
    ``scope`` (the workflow's variables), as Argo substitutes a template before it runs.
    """
    from ..argo.subst import substitute

    given = {p["name"]: p for p in args.get("parameters") or []}
    params = []
    for p in (tmpl.get("inputs") or {}).get("parameters") or []:
        if p["name"] in given and "value" in given[p["name"]]:
            value = given[p["name"]]["value"]
        elif "value" in p or "default" in p:
            value = p["value"] if "value" in p else p["default"]
            if scope is not None and isinstance(value, str) and "{{" in value:
                value = substitute(value, scope, where=where, keep_unresolved=True)
        else:
            raise ManifestError(f"inputs.parameters.{p['name']} was not supplied", where)
        params.append({"name": p["name"], "value": str(value)})
    given_art = {a["name"]: a for a in args.get("artifacts") or []}
    artifacts = []
    for a in (tmpl.get("inputs") or {}).get("artifacts") or []:
        given = {k: v for k, v in given_art.get(a["name"], {}).items() if k != "name"}
        src = {**a, **given}
        if "raw" in src and "raw" not in given:
            src = {**src, "raw": {}}  # the data stays in the template, not in every node
        artifacts.append(src)
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = params
    if artifacts:
        out["artifacts"] = artifacts
    return out


def pod_request(op: Operator, node: Node) -> PodRequest:
    """Build the substituted template a worker needs to run pod ``node``."""
    from ..argo.subst import substitute_obj
    from .variables import pod_variables

    tmpl = op.templates[node["templateName"]]
    fixed = op.workflow_scope()
    inputs = node.get("inputs") or {}
    fixed.update(pod_variables(op, node, tmpl))
    # metrics are evaluated when the node ends (their {{status}}, {{duration}}), not now
    body = {k: v for k, v in tmpl.items() if k not in ("inputs", "retryStrategy", "metrics")}
    body = substitute_obj(
        body, Scope(fixed), where=f"template {tmpl['name']}", keep_unresolved=True
    )
    raw = {
        a["name"]: a["raw"]
        for a in (tmpl.get("inputs") or {}).get("artifacts") or []
        if "raw" in a
    }
    arts = []
    for a in substitute_obj(inputs.get("artifacts") or [], Scope(fixed)):
        arts.append({**a, "raw": raw[a["name"]]} if "raw" in a and a["name"] in raw else a)
    # activeDeadlineSeconds bounds the pod's running time; template.timeout the node's whole
    # life, which locally starts when the step does.
    limits = [float(v) for v in (tmpl.get("activeDeadlineSeconds"),) if v is not None]
    if body.get("timeout"):
        limits.append(parse_duration(str(body["timeout"])))
    claims = [
        (c.get("metadata") or {}).get("name", "") for c in op.spec.get("volumeClaimTemplates") or []
    ]
    return PodRequest(
        node["id"],
        node["name"],
        body,
        {**inputs, "artifacts": arts},
        min(limits, default=None),
        volumes=substitute_obj(op.spec.get("volumes") or [], Scope(fixed)),
        claim_templates=claims,
    )
