"""Reopen a saved run: resume after a crash or a stop, retry failed nodes, rerun from a task.

Pure functions over a Workflow dict: they forget the nodes that must run again and reopen their
enclosing nodes, and the operator recreates them (with the same Argo ids) on its next reconcile.
Succeeded nodes, their outputs and their artifacts are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import NbflowError
from ..vocab import COMPLETED, FAILED, GROUP_TYPES, NodeType
from .nodes import Node

__all__ = ["resume_plan", "retry_plan", "rerun_plan", "STOPPED"]

STOPPED = "Stopped with strategy"
_CONTAINERS = (*GROUP_TYPES, NodeType.RETRY)


def resume_plan(wf: dict[str, Any]) -> list[str]:
    """Prepare a crashed, interrupted or stopped run to go on; return the forgotten node ids."""
    status = wf.get("status") or {}
    nodes: dict[str, Node] = status.get("nodes") or {}
    stopped = bool((wf.get("spec") or {}).get("shutdown"))
    if status.get("phase") in COMPLETED and not stopped:
        raise NbflowError(
            f"run {wf['metadata']['name']} has already ended ({status['phase']}); "
            "use retry to run its failed tasks again"
        )
    drop = [
        n["id"]
        for n in nodes.values()
        if n["type"] == NodeType.POD
        and (n["phase"] in ("Pending", "Running") or str(n.get("message", "")).startswith(STOPPED))
    ]
    return _reopen(wf, drop)


def retry_plan(wf: dict[str, Any]) -> list[str]:
    """Prepare a failed run so that its failed and errored nodes run again."""
    status = wf.get("status") or {}
    nodes: dict[str, Node] = status.get("nodes") or {}
    if status.get("phase") not in FAILED:
        raise NbflowError(
            f"run {wf['metadata']['name']} is {status.get('phase') or 'not started'}: "
            "only a Failed or Error run can be retried"
        )
    parents = _parents(nodes)
    drop = []
    for node in nodes.values():
        if node["type"] != NodeType.POD or node["phase"] not in FAILED:
            continue
        parent = nodes.get(parents.get(node["id"], ""))
        # a failed Retry node starts over with its whole retry budget
        drop.append(
            parent["id"] if parent is not None and parent["type"] == NodeType.RETRY else node["id"]
        )
    return _reopen(wf, drop)


def rerun_plan(wf: dict[str, Any], tasks: Iterable[str]) -> list[str]:
    """Forget the nodes of ``tasks`` (task names of the entry DAG) so that they run again."""
    name = wf["metadata"]["name"]
    nodes: dict[str, Node] = (wf.get("status") or {}).get("nodes") or {}
    by_name = {n["name"]: n for n in nodes.values()}
    drop = [by_name[f"{name}.{t}"]["id"] for t in tasks if f"{name}.{t}" in by_name]
    return _reopen(wf, drop)


def _parents(nodes: dict[str, Node]) -> dict[str, str]:
    parents: dict[str, str] = {}
    for node in nodes.values():
        if node["type"] in (NodeType.RETRY, NodeType.TASK_GROUP, NodeType.STEP_GROUP):
            for kid in node.get("children") or []:
                parents[kid] = node["id"]
    for node in nodes.values():
        if node["id"] not in parents and node.get("boundaryID"):
            parents[node["id"]] = node["boundaryID"]
    return parents


def _subtree(nodes: dict[str, Node], root: str, parents: dict[str, str]) -> set[str]:
    inside = {root}
    changed = True
    while changed:
        changed = False
        for nid, parent in parents.items():
            if parent in inside and nid not in inside:
                inside.add(nid)
                changed = True
    return inside


def _reopen(wf: dict[str, Any], drop: list[str]) -> list[str]:
    """Forget ``drop`` (and their subtrees), reopen their ancestors and the workflow."""
    status = wf.setdefault("status", {})
    nodes: dict[str, Node] = status.setdefault("nodes", {})
    parents = _parents(nodes)
    forget: set[str] = set()
    for nid in drop:
        forget |= _subtree(nodes, nid, parents)
    reopened: set[str] = set()
    for nid in list(forget):
        parent = parents.get(nid)
        while parent is not None and parent not in forget:
            reopened.add(parent)
            parent = parents.get(parent)
    # Skipped/Omitted verdicts inside a reopened DAG are evaluated again from fresh phases
    for node in nodes.values():
        if node["type"] == NodeType.SKIPPED and node.get("boundaryID") in reopened:
            forget |= _subtree(nodes, node["id"], parents)
    exit_name = f"{wf['metadata']['name']}.onExit"
    for node in nodes.values():
        if node["name"] == exit_name or node["name"].startswith(exit_name + "."):
            forget.add(node["id"])
    for nid in forget:
        nodes.pop(nid, None)
    for node in nodes.values():
        if node.get("children"):
            node["children"] = [k for k in node["children"] if k not in forget]
        if node["id"] in reopened:
            node["phase"] = "Running"
            for key in ("finishedAt", "message", "outboundNodes"):
                node.pop(key, None)
    for key in ("finishedAt", "message", "exitStatus", "exitFailures"):
        status.pop(key, None)
    status["phase"] = "Running" if status.get("startedAt") else ""
    (wf.get("spec") or {}).pop("shutdown", None)
    return sorted(forget)
