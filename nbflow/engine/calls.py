"""Calls of templates: a call's arguments, artifact references and items, the inputs they bind,
and the substituted template a pod runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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

_ATTEMPT = re.compile(r"\((\d+)\)$")  # an attempt's node name ends with "(n)"

# Finds the node a reference names: ("tasks" | "steps", name) -> node or None
FindNode = Callable[[str, str], "Node | None"]


def arguments(call: dict[str, Any], scope: Scope, find: FindNode) -> dict[str, Any]:
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


def _artifact_from(ref: str, find: FindNode, where: str) -> dict[str, Any]:
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
    return any(k in call for k in LOOP_FIELDS)


def bind_inputs(tmpl: dict[str, Any], args: dict[str, Any], where: str) -> dict[str, Any]:
    """Bind a template's declared inputs to the call's arguments (or their defaults)."""
    given = {p["name"]: p for p in args.get("parameters") or []}
    params = []
    for p in (tmpl.get("inputs") or {}).get("parameters") or []:
        if p["name"] in given and "value" in given[p["name"]]:
            value = given[p["name"]]["value"]
        elif "value" in p:
            value = p["value"]
        elif "default" in p:
            value = p["default"]
        else:
            raise ManifestError(f"inputs.parameters.{p['name']} was not supplied", where)
        params.append({"name": p["name"], "value": str(value)})
    given_art = {a["name"]: a for a in args.get("artifacts") or []}
    artifacts = []
    for a in (tmpl.get("inputs") or {}).get("artifacts") or []:
        src = {**a, **{k: v for k, v in given_art.get(a["name"], {}).items() if k != "name"}}
        if "raw" in src:
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

    tmpl = op.templates[node["templateName"]]
    fixed = op.workflow_scope()
    inputs = node.get("inputs") or {}
    for p in inputs.get("parameters") or []:
        fixed[f"inputs.parameters.{p['name']}"] = p["value"]
    m = _ATTEMPT.search(node["name"])
    fixed["retries"] = m.group(1) if m and node.get("nodeFlag", {}).get("retried") else "0"
    fixed["pod.name"] = node["id"]
    body = {k: v for k, v in tmpl.items() if k not in ("inputs", "retryStrategy")}
    body = substitute_obj(body, Scope(fixed), where=f"template {tmpl['name']}")
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
    return PodRequest(
        node["id"], node["name"], body, {**inputs, "artifacts": arts}, min(limits, default=None)
    )
