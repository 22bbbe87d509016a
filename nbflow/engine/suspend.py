"""Suspend nodes for the operator: they wait (Running) until resumed, or until their
``duration`` has passed (``operator.go`` ``executeSuspend``)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..model.values import parse_duration
from ..vocab import NodeType, Phase
from .nodes import Node, parse_timestamp

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["execute_suspend", "suspended", "resume_nodes"]


def execute_suspend(op: Operator, node: Node, tmpl: dict[str, Any]) -> None:
    """Advance a suspend node: fail it under a shutdown, end it when its duration is over."""
    if op.halted(node["name"]):
        op.mark(node, Phase.FAILED, op.stop_message)
        return
    duration = (tmpl.get("suspend") or {}).get("duration")
    if duration is None:
        return
    ready = parse_timestamp(node["startedAt"]) + timedelta(seconds=parse_duration(str(duration)))
    if op.now >= ready:
        op.mark(node, Phase.SUCCEEDED)
    else:
        op.wake_at(ready)


def suspended(op: Operator) -> list[Node]:
    """Suspend nodes waiting to be resumed."""
    return [
        n for n in op.nodes.values() if n["type"] == NodeType.SUSPEND and n["phase"] == "Running"
    ]


def resume_nodes(op: Operator, names: list[str] | None = None) -> list[str]:
    """Resume waiting suspend nodes (all, or those whose name or display name is given)."""
    done = []
    for node in suspended(op):
        if names is None or node["name"] in names or node["displayName"] in names:
            op.mark(node, Phase.SUCCEEDED)
            done.append(node["displayName"])
    return done
