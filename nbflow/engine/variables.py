"""The variables of Argo's reference (``docs/variables.md``) that do not come from other nodes:
``workflow.*`` for every tag, and a pod template's own (``inputs.*``, ``outputs.*.path``,
``node.name``, ``pod.name``, ``retries``, ``lastRetry.*``, ``steps.name``/``tasks.name``)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..vocab import SCHEDULED_TIME_ANNOTATION, NodeType
from .nodes import Node, parse_timestamp, timestamp

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["workflow_variables", "pod_variables", "input_variables", "call_name", "STRFTIME"]

# Argo's strftime characters (util/strftime FormatChars) and what Python's strftime calls them.
STRFTIME = {c: f"%{c}" for c in "BbmAadHIMSYypZz"}
STRFTIME["L"] = ".%f"  # milliseconds, as Go's ".000"
_ATTEMPT = re.compile(r"\((\d+)\)$")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _created(op: Operator) -> datetime:
    started = op.status.get("startedAt")
    return parse_timestamp(started) if started else _aware(op.now)


def workflow_variables(op: Operator) -> dict[str, Any]:
    """Every ``workflow.*`` variable the run has at ``op.now``."""
    meta = op.wf["metadata"]
    spec = op.spec
    created = _created(op).astimezone(timezone.utc)
    out: dict[str, Any] = {
        "workflow.name": op.name,
        "workflow.namespace": meta.get("namespace", "local"),
        "workflow.uid": meta.get("uid", op.name),
        "workflow.mainEntrypoint": str(spec.get("entrypoint", "")),
        "workflow.serviceAccountName": str(spec.get("serviceAccountName", "")),
        "workflow.creationTimestamp": timestamp(created),
        "workflow.creationTimestamp.RFC3339": timestamp(created),
        "workflow.creationTimestamp.s": str(int(created.timestamp())),
        "workflow.duration": f"{max(0.0, (_aware(op.now) - created).total_seconds()):f}",
    }
    for char, fmt in STRFTIME.items():
        text = created.strftime(fmt)
        out[f"workflow.creationTimestamp.{char}"] = text[:4] if char == "L" else text
    if spec.get("priority") is not None:
        out["workflow.priority"] = str(spec["priority"])
    scheduled = (meta.get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION)
    if scheduled:
        out["workflow.scheduledTime"] = scheduled
    params = (spec.get("arguments") or {}).get("parameters") or []
    out["workflow.parameters"] = out["workflow.parameters.json"] = _json(params)
    for p in params:
        out[f"workflow.parameters.{p['name']}"] = str(p.get("value", ""))
    for kind in ("labels", "annotations"):
        values = dict(meta.get(kind) or {})
        values.update((spec.get("workflowMetadata") or {}).get(kind) or {})
        # Go marshals a map with its keys sorted
        out[f"workflow.{kind}"] = out[f"workflow.{kind}.json"] = _json(dict(sorted(values.items())))
        out.update({f"workflow.{kind}.{k}": str(v) for k, v in values.items()})
    for p in (op.status.get("outputs") or {}).get("parameters") or []:
        out[f"workflow.outputs.parameters.{p['name']}"] = str(p.get("value", ""))
    for a in (op.status.get("outputs") or {}).get("artifacts") or []:
        out[f"workflow.outputs.artifacts.{a['name']}"] = a
    if op.status.get("exitStatus"):
        out["workflow.status"] = op.status["exitStatus"]
        out["workflow.failures"] = op.status.get("exitFailures", "[]")
    return out


def input_variables(node: Node) -> dict[str, Any]:
    """``inputs.parameters[.<name>]`` and ``inputs.artifacts.<name>`` (the artifact itself, for
    ``from``) of a node: what a ``dag`` or ``steps`` template sees of its inputs."""
    inputs = node.get("inputs") or {}
    params = inputs.get("parameters") or []
    out: dict[str, Any] = {"inputs.parameters": _json(params)}
    for p in params:
        out[f"inputs.parameters.{p['name']}"] = p["value"]
    for a in inputs.get("artifacts") or []:
        out[f"inputs.artifacts.{a['name']}"] = a
    return out


def call_name(op: Operator, node: Node) -> tuple[str, str] | None:
    """``("steps" | "tasks", name)`` of the step or task that created ``node``."""
    boundary = op.nodes.get(node.get("boundaryID") or "")
    if boundary is None:
        return None
    rest = node["name"][len(boundary["name"]) :]
    rest = re.sub(r"^\[\d+\]", "", rest).lstrip(".")
    name = rest.split("(")[0].split(".")[0]
    kind = "steps" if boundary["type"] == NodeType.STEPS else "tasks"
    return kind, name


def pod_variables(op: Operator, node: Node, tmpl: dict[str, Any]) -> dict[str, str]:
    """The variables a pod template's body sees, besides ``workflow.*``."""
    out: dict[str, str] = {"node.name": node["name"], "pod.name": node["id"]}
    inputs = node.get("inputs") or {}
    params = inputs.get("parameters") or []
    out["inputs.parameters"] = _json(params)
    for p in params:
        out[f"inputs.parameters.{p['name']}"] = p["value"]
    for a in (tmpl.get("inputs") or {}).get("artifacts") or []:
        if a.get("path"):
            out[f"inputs.artifacts.{a['name']}.path"] = a["path"]
    outputs = tmpl.get("outputs") or {}
    for a in outputs.get("artifacts") or []:
        if a.get("path"):
            out[f"outputs.artifacts.{a['name']}.path"] = a["path"]
    for p in outputs.get("parameters") or []:
        if (p.get("valueFrom") or {}).get("path"):
            out[f"outputs.parameters.{p['name']}.path"] = p["valueFrom"]["path"]
    retried = bool((node.get("nodeFlag") or {}).get("retried"))
    m = _ATTEMPT.search(node["name"])
    out["retries"] = m.group(1) if m and retried else "0"
    if retried:
        out.update(_last_retry(op, node))
    caller = call_name(op, node)
    if caller is not None:
        out[f"{caller[0]}.name"] = caller[1]
    return out


def _last_retry(op: Operator, node: Node) -> dict[str, str]:
    """``lastRetry.*`` of an attempt: the attempt before it (defaults for the first)."""
    out = {"lastRetry.exitCode": "0", "lastRetry.duration": "0", "lastRetry.status": "",
           "lastRetry.message": ""}
    parent = next((n for n in op.nodes.values() if node["id"] in (n.get("children") or [])
                   and n["type"] == NodeType.RETRY), None)
    kids = (parent or {}).get("children") or []
    index = kids.index(node["id"]) if node["id"] in kids else 0
    if index > 0:
        last = op.nodes[kids[index - 1]]
        out["lastRetry.exitCode"] = str((last.get("outputs") or {}).get("exitCode", "0"))
        out["lastRetry.status"] = last["phase"]
        out["lastRetry.message"] = last.get("message", "")
        if "startedAt" in last and "finishedAt" in last:
            seconds = parse_timestamp(last["finishedAt"]) - parse_timestamp(last["startedAt"])
            out["lastRetry.duration"] = str(int(seconds.total_seconds()))
    return out
