"""The nodes of a ``containerSet`` pod: one ``Container`` node per container, named
``<pod node>.<container>``, wired by the containers' ``dependencies`` (Argo's
``executeContainerSet``); a container that never ran because one it depends on failed is
Omitted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..vocab import NodeType, Phase
from .nodes import Node

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["container_nodes"]


def container_nodes(op: Operator, pod: Node, statuses: dict[str, dict[str, Any]]) -> None:
    """Create (or update) the Container nodes of ``pod`` from the containers' end states."""
    tmpl = op.templates[pod["templateName"]]
    containers = (tmpl.get("containerSet") or {}).get("containers") or []
    ids = {}
    for c in containers:
        name = c.get("name", "")
        status = statuses.get(name) or {}
        if status.get("skipped") or not status:
            phase, message = Phase.OMITTED, "omitted: a container it depends on failed"
        elif status.get("exitCode"):
            phase = Phase.FAILED
            message = status.get("message") or f"Error (exit code {status['exitCode']})"
        else:
            phase, message = Phase.SUCCEEDED, None
        node = op.node(f"{pod['name']}.{name}") or op.create(
            f"{pod['name']}.{name}",
            name,
            NodeType.CONTAINER,
            phase,
            template=pod["templateName"],
            boundary=pod.get("boundaryID"),
            message=message,
        )
        op.mark(node, phase, message)
        if "exitCode" in status:
            node["outputs"] = {"exitCode": str(status["exitCode"])}
        ids[name] = node["id"]
    for c in containers:
        parents = [ids[d] for d in c.get("dependencies") or [] if d in ids] or [pod["id"]]
        for parent in parents:
            kids = op.nodes[parent].setdefault("children", [])
            if ids[c.get("name", "")] not in kids:
                kids.append(ids[c.get("name", "")])
