"""What holds back new children of a ``dag`` or ``steps`` node: the template's ``parallelism``
(direct children that are still active) and its ``failFast`` (a child pod failed: nothing new
starts, and once no pod is active the template fails; ``operator.go`` ``checkParallelism``).
A DAG's own ``dag.failFast`` is another rule, in :mod:`.dag`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..vocab import BOUNDARY_TYPES, FAILED, NodeType, Phase
from .nodes import Node

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["at_parallelism", "fail_fast_blocks", "fail_fast_ended", "FAIL_FAST_MESSAGE"]

FAIL_FAST_MESSAGE = "template has failed or errored children and failFast enabled"
_ACTIVE_TYPES = (NodeType.POD, NodeType.HTTP, *BOUNDARY_TYPES, NodeType.SUSPEND)


def _children(op: Operator, node: Node) -> list[Node]:
    return [n for n in op.nodes.values() if n.get("boundaryID") == node["id"]]


def at_parallelism(op: Operator, node: Node, tmpl: dict[str, Any]) -> bool:
    """Whether the template's ``parallelism`` allows no new direct child right now."""
    limit = tmpl.get("parallelism")
    if not limit:
        return False
    active = sum(
        1
        for n in _children(op, node)
        if n["type"] in _ACTIVE_TYPES and not Phase(n["phase"]).fulfilled
    )
    return active >= int(limit)


def fail_fast_blocks(op: Operator, node: Node, tmpl: dict[str, Any]) -> bool:
    """Whether the template's ``failFast`` forbids new children: a child pod has failed."""
    if not tmpl.get("failFast") or "dag" in tmpl and "failFast" in (tmpl.get("dag") or {}):
        return False
    return any(
        n["type"] in (NodeType.POD, NodeType.HTTP) and n["phase"] in FAILED
        for n in _children(op, node)
    )


def fail_fast_ended(op: Operator, node: Node, tmpl: dict[str, Any], group: Node | None) -> bool:
    """With ``failFast`` and a failed child, end the template (and its running step group)
    Failed once none of its pods is active; return whether it ended."""
    if not fail_fast_blocks(op, node, tmpl):
        return False
    kids = _children(op, node)
    if any(n["type"] in (NodeType.POD, NodeType.HTTP) and not Phase(n["phase"]).fulfilled
           for n in kids):
        return False
    if group is not None and not Phase(group["phase"]).fulfilled:
        op.mark(group, Phase.FAILED, FAIL_FAST_MESSAGE)
    op.mark(node, Phase.FAILED, FAIL_FAST_MESSAGE)
    return True
