"""Pure edits of a Workflow object that retry, resume and name pods the way Argo does."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from ..engine.nodes import fnv32a, timestamp
from ..errors import NbflowError
from ..vocab import (
    ARCHIVING_STATUS_LABEL,
    COMPLETED_LABEL,
    FAILED,
    GROUP_TYPES,
    POD_NAME_FORMAT_ANNOTATION,
    NodeType,
)

__all__ = ["pod_name", "retry_status", "resume_status"]

_MAX_NAME, _HASH = 253, 10


def pod_name(workflow: dict[str, Any], node: dict[str, Any]) -> str:
    """The name of the pod that ran ``node`` (Argo's ``POD_NAMES=v2``, or v1: the node id)."""
    meta = workflow.get("metadata") or {}
    wf_name = meta.get("name", "")
    if (meta.get("annotations") or {}).get(POD_NAME_FORMAT_ANNOTATION) == "v1":
        return str(node["id"])
    if node["name"] == wf_name:
        return wf_name
    template = node.get("templateName") or (node.get("templateRef") or {}).get("template")
    if not template:
        return str(node["id"])
    prefix = f"{wf_name}-{template}"
    if len(prefix) > _MAX_NAME - _HASH - 1:
        prefix = prefix[: _MAX_NAME - _HASH - 1]
    return f"{prefix}-{fnv32a(node['name'])}"


def retry_status(workflow: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Reset a Failed or Errored workflow so that the controller runs its failed steps again.

    As ``argo retry`` does: failed, errored and omitted nodes are removed (with every attempt
    of a failed retry node), failed DAGs and task groups go back to Running, the exit handler
    runs again, and succeeded steps keep their results.

    Returns
    -------
    (workflow, pods)
        The new Workflow object, and the names of the pods to delete before updating it.
    """
    wf = copy.deepcopy(workflow)
    name = wf["metadata"]["name"]
    status = wf.get("status") or {}
    if status.get("phase") not in FAILED:
        raise NbflowError(
            f"workflow {name} is {status.get('phase') or 'not started'}: only a Failed or Error "
            "workflow can be retried"
        )
    nodes: dict[str, dict[str, Any]] = status.get("nodes") or {}
    doomed = _doomed(name, nodes)
    pods = [pod_name(wf, nodes[i]) for i in sorted(doomed) if nodes[i]["type"] == NodeType.POD]
    _prune(nodes, doomed)
    for key in ("finishedAt", "message", "exitStatus", "exitFailures"):
        status.pop(key, None)
    results = status.get("taskResultsCompletionStatus")
    if isinstance(results, dict):
        status["taskResultsCompletionStatus"] = {
            k: v for k, v in results.items() if k not in doomed
        }
    status["phase"] = "Running"
    wf["spec"].pop("shutdown", None)
    labels = wf["metadata"].setdefault("labels", {})
    labels[COMPLETED_LABEL] = "false"
    labels.pop(ARCHIVING_STATUS_LABEL, None)
    return wf, pods


def _prune(nodes: dict[str, dict[str, Any]], doomed: set[str]) -> None:
    """Remove ``doomed`` nodes and the links to them; failed groups go back to Running."""
    for node_id in doomed:
        del nodes[node_id]
    for node in nodes.values():
        for key in ("children", "outboundNodes"):
            if key in node:
                node[key] = [k for k in node[key] if k not in doomed]
        if node["phase"] in FAILED and node["type"] in GROUP_TYPES:
            node["phase"] = "Running"
            for key in ("finishedAt", "message", "outboundNodes"):
                node.pop(key, None)


def _doomed(wf_name: str, nodes: dict[str, dict[str, Any]]) -> set[str]:
    exit_prefix = f"{wf_name}.onExit"
    # failed attempts of a retry node that went on to succeed are history, not failures
    settled = {
        kid
        for node in nodes.values()
        if node["type"] == NodeType.RETRY and node["phase"] == "Succeeded"
        for kid in node.get("children") or []
    }
    doomed = set()
    for node_id, node in nodes.items():
        if node["name"] == exit_prefix or node["name"].startswith(exit_prefix + ".") or (
            node["phase"] in ("Failed", "Error", "Omitted")
            and node["type"] not in GROUP_TYPES
            and node_id not in settled
        ):
            doomed.add(node_id)
    for node_id in list(doomed):  # a retry node goes with all its attempts
        if nodes[node_id]["type"] == NodeType.RETRY:
            doomed |= set(nodes[node_id].get("children") or [])
    return doomed


def resume_status(
    workflow: dict[str, Any], now: datetime, names: list[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Resume a suspended workflow (``argo resume``).

    Clears ``spec.suspend`` and ends the running Suspend nodes (all, or those whose name or
    display name is in ``names``). Returns the new Workflow and the display names of what resumed
    (the workflow's name for ``spec.suspend``).
    """
    wf = copy.deepcopy(workflow)
    resumed = [wf["metadata"]["name"]] if wf["spec"].pop("suspend", None) and not names else []
    for node in ((wf.get("status") or {}).get("nodes") or {}).values():
        if node["type"] != NodeType.SUSPEND or node["phase"] != "Running":
            continue
        if names is None or node["displayName"] in names or node["name"] in names:
            node["phase"] = "Succeeded"
            node["finishedAt"] = timestamp(now)
            resumed.append(node["displayName"])
    if not resumed:
        what = f" at {', '.join(names)}" if names else ""
        raise NbflowError(f"workflow {wf['metadata']['name']} is not suspended{what}")
    return wf, resumed
