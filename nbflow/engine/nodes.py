"""Argo-shaped node records: ids, names, creation and the small queries viewers need."""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timezone
from typing import Any

from ..vocab import BOUNDARY_TYPES, GROUP_TYPES, NodeType, Phase

__all__ = [
    "fnv32a",
    "node_id",
    "item_description",
    "readable_name",
    "new_node",
    "timestamp",
    "parse_timestamp",
    "active_seconds",
    "outbound",
    "phase_of",
    "workflow_phase",
    "settled",
]

Node = dict[str, Any]


def fnv32a(text: str) -> int:
    """32-bit FNV-1a hash of ``text`` (UTF-8), as Argo uses for node ids."""
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


@functools.lru_cache(maxsize=1 << 16)
def node_id(workflow_name: str, node_name: str) -> str:
    """Argo's node id: the workflow name for the root node, else ``<wf>-<fnv32a(name)>``.

    Cached: every reconcile looks up every node of the run by name.
    """
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{fnv32a(node_name)}"


def item_description(item: Any) -> str:
    """The ``desc`` Argo puts in an expanded node's name: ``task(<i>:<desc>)``."""
    if isinstance(item, dict):
        desc = ",".join(f"{k}:{_plain(item[k])}" for k in sorted(item))
    else:
        desc = _plain(item)
    return desc.replace("(", "").replace(")", "")


_ITEM = re.compile(r"\((\d+):([^()]*)\)")


def readable_name(name: str) -> str:
    """A node name as the user wrote the items: ``summarize(0:_i:0,shard:0)`` reads
    ``summarize(shard=0)``; nbflow's own ``_i`` (the item index) is left out.

    Items that are not key/value pairs (``fan(2:7)``) keep Argo's form.
    """

    def item(match: re.Match[str]) -> str:
        pairs = [p for p in match.group(2).split(",") if ":" in p and not p.startswith("_i:")]
        if not pairs:
            return match.group(0)
        return "(" + ", ".join(p.replace(":", "=", 1) for p in pairs) + ")"

    return _ITEM.sub(item, name)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def timestamp(now: datetime) -> str:
    """RFC 3339 UTC with second precision, as Argo writes ``startedAt``/``finishedAt``."""
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Inverse of :func:`timestamp` (also accepts fractional seconds)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def active_seconds(nodes: Any) -> float:
    """Seconds during which some step (pod, retry, suspend, ...) of ``nodes`` was going on:
    the union of their intervals, so that the idle time between a run's end and its retry,
    resume or rerun does not count."""
    spans = sorted(
        (parse_timestamp(n["startedAt"]).timestamp(), parse_timestamp(n["finishedAt"]).timestamp())
        for n in nodes
        if n.get("type") not in GROUP_TYPES and n.get("startedAt") and n.get("finishedAt")
    )
    total, end = 0.0, float("-inf")
    for start, finish in spans:
        if finish <= end:
            continue
        total += finish - max(start, end)
        end = finish
    return total


def new_node(
    wf_name: str,
    name: str,
    display: str,
    type_: str,
    phase: Phase,
    now: datetime,
    *,
    template: str | None = None,
    boundary: str | None = None,
    message: str | None = None,
) -> Node:
    """A fresh node record in Argo's ``status.nodes`` shape."""
    node: Node = {"id": node_id(wf_name, name), "name": name, "displayName": display, "type": type_}
    if template is not None:
        node["templateName"] = template
    node["phase"] = phase.value
    if boundary is not None:
        node["boundaryID"] = boundary
    node["startedAt"] = timestamp(now)
    if phase.fulfilled:
        node["finishedAt"] = node["startedAt"]
    if message:
        node["message"] = message
    return node


def settled(node: Node) -> bool:
    """Argo's ``NodeStatus.Fulfilled()``: fulfilled, or a daemon that is up (``daemoned``)."""
    return Phase(node["phase"]).fulfilled or (
        bool(node.get("daemoned")) and node["phase"] != Phase.PENDING
    )


def phase_of(node: Node | None) -> Phase | None:
    """The node's phase, or ``None`` when there is no node."""
    return Phase(node["phase"]) if node is not None else None


def outbound(nodes: dict[str, Node], node: Node) -> list[str]:
    """Ids of a node's outbound nodes: where edges to its dependents start (Argo's rule)."""
    if node.get("type") in BOUNDARY_TYPES:
        return list(node.get("outboundNodes") or [node["id"]])
    if node.get("type") in (NodeType.TASK_GROUP, NodeType.RETRY) and node.get("children"):
        kids = node["children"] if node["type"] == NodeType.TASK_GROUP else node["children"][-1:]
        out: list[str] = []
        for kid in kids:
            out += outbound(nodes, nodes[kid])
        return out
    return [node["id"]]


def workflow_phase(root: Node) -> str:
    """The workflow phase the entry node gives: Skipped and Omitted count as Succeeded."""
    phase: str = root["phase"]
    return Phase.SUCCEEDED if phase in (Phase.SKIPPED, Phase.OMITTED) else phase
