"""How a workflow ends on the operator: its phase (the entry node's, an exit handler's failure,
a shutdown or deadline), its metrics, and nodes that will never start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..vocab import FAILED, NodeType, Phase
from . import metrics
from .nodes import Node, timestamp, workflow_phase

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["finish", "DEADLINE_EXCEEDED"]

DEADLINE_EXCEEDED = "Step exceeded its deadline"
_RUNS = (NodeType.POD, NodeType.HTTP)


def finish(op: Operator, root: Node) -> None:
    """End the workflow once its entry node, hooks and exit handler are done."""
    op.kill_daemons(None)
    op.locks.release(op.name)
    phase = workflow_phase(root)
    exit_node = op.node(f"{op.name}.onExit")
    if phase == "Succeeded" and exit_node is not None and exit_node["phase"] in FAILED:
        phase = exit_node["phase"]
    halted = bool(op.shutdown) or (op.deadline_passed and _cut_short(op))
    if halted and phase != "Error":
        phase = "Failed"
        root.setdefault("message", op.stop_message)
    op.status["phase"] = phase
    op.status["finishedAt"] = timestamp(op.now)
    metrics.workflow_ended(op, phase)
    for node in op.nodes.values():  # never started, and now never will
        if node["type"] in _RUNS and node["phase"] == Phase.PENDING:
            op.mark(node, Phase.ERROR, "the workflow ended before this pod started")
    message = op.stop_message if halted else root.get("message")
    if message and phase != "Succeeded":
        op.status["message"] = message
    op.changed.append(root["id"])


def _cut_short(op: Operator) -> bool:
    """Whether the deadline ended some node (the run did not simply finish in time)."""
    return any(n.get("message") == DEADLINE_EXCEEDED for n in op.nodes.values())
