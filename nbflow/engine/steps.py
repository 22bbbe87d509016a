"""Steps templates for the operator: sequential groups of parallel steps, as Argo runs them.

Node shape (``workflow/controller/steps.go``): the template's node (type ``Steps``) has the first
group ``<node>[0]`` (type ``StepGroup``) as child; steps are ``<node>[i].<step>``, expanded steps
``<node>[i].<step>(j:desc)`` directly in their group; every outbound node of group ``i``'s children
has group ``i+1`` as child. A group fails when a step fails without ``continueOn``; the template
then fails and later groups never start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..vocab import FAILED, FULFILLED, NodeType, Phase
from .calls import arguments, expansion, items
from .nodes import Node, item_description, outbound
from .scope import Scope, item_scope, node_scope

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["execute_steps"]



def execute_steps(op: Operator, node: Node, tmpl: dict[str, Any]) -> None:
    """Advance a Steps node: run its groups in order, each group's steps in parallel."""
    previous: Node | None = None
    for i, group in enumerate(tmpl.get("steps") or []):
        gname = f"{node['name']}[{i}]"
        gnode = op.node(gname)
        if gnode is None:
            if op.halted(gname):
                op.mark(node, Phase.FAILED, op.stop_message)
                return
            gnode = op.create(
                gname, f"[{i}]", NodeType.STEP_GROUP, Phase.RUNNING, boundary=node["id"]
            )
            gnode["children"] = []
            parents = _outbound_of_group(op, previous) if previous else [node["id"]]
            for pid in parents:
                op.nodes[pid].setdefault("children", []).append(gnode["id"])
        if not Phase(gnode["phase"]).fulfilled:
            _execute_group(op, node, gnode, group, i)
            if not Phase(gnode["phase"]).fulfilled:
                return
        if gnode["phase"] in FAILED:
            op.mark(node, Phase(gnode["phase"]), gnode.get("message"))
            return
        previous = gnode
    node["outboundNodes"] = _outbound_of_group(op, previous) if previous else []
    op.mark(node, Phase.SUCCEEDED)


def _outbound_of_group(op: Operator, group: Node) -> list[str]:
    out: list[str] = []
    for kid in group.get("children") or []:
        out += outbound(op.nodes, op.nodes[kid])
    return out or [group["id"]]


def _execute_group(
    op: Operator, steps: Node, group: Node, calls: list[dict[str, Any]], index: int
) -> None:
    kids: list[str] = []
    by_kid: dict[str, dict[str, Any]] = {}
    for call in calls:
        name = f"{group['name']}.{call['name']}"
        if not expansion(call):
            kid = _execute_step(op, steps, group, call, name, call["name"], None, index)
            kids.append(kid["id"])
            by_kid[kid["id"]] = call
            continue
        values = items(call, _scope(op, steps, index, None))
        if not values:
            kid = op.node(name) or op.create(
                name,
                call["name"],
                NodeType.SKIPPED,
                Phase.SKIPPED,
                boundary=steps["id"],
                message="Skipped, empty params",
            )
            kids.append(kid["id"])
            continue
        for j, item in enumerate(values):
            desc = item_description(item)
            kid = _execute_step(
                op,
                steps,
                group,
                call,
                f"{name}({j}:{desc})",
                f"{call['name']}({j}:{desc})",
                item,
                index,
            )
            kids.append(kid["id"])
            by_kid[kid["id"]] = call
    group["children"] = kids
    nodes = [op.nodes[k] for k in kids]
    if all(Phase(n["phase"]).fulfilled for n in nodes):
        bad = [n for n in nodes if n["phase"] in FAILED and not _continues(by_kid.get(n["id"]), n)]
        op.mark(
            group,
            Phase(bad[0]["phase"]) if bad else Phase.SUCCEEDED,
            f"child '{bad[0]['id']}' failed" if bad else None,
        )


def _continues(call: dict[str, Any] | None, node: Node) -> bool:
    cont = (call or {}).get("continueOn") or {}
    return bool(cont.get("failed" if node["phase"] == "Failed" else "error"))


def _execute_step(
    op: Operator,
    steps: Node,
    group: Node,
    call: dict[str, Any],
    name: str,
    display: str,
    item: Any,
    index: int,
) -> Node:
    existing = op.node(name)
    if existing is not None and (
        existing["type"] == NodeType.POD or existing["phase"] in FULFILLED
    ):
        return existing
    scope = _scope(op, steps, index, item)
    if existing is None and call.get("when"):
        from ..argo.expr import evaluate_when
        from ..argo.subst import substitute

        cond = substitute(call["when"], scope, where=f"step {call['name']}")
        if not evaluate_when(cond, where=f"step {call['name']}"):
            return op.create(
                name,
                display,
                NodeType.SKIPPED,
                Phase.SKIPPED,
                boundary=steps["id"],
                message=f"when '{cond}' evaluated false",
            )

    def find(kind: str, ref: str) -> Node | None:
        return _step_node(op, steps, index, ref) if kind == "steps" else None

    args = arguments(call, scope, find)
    return op.execute(name, display, call["template"], args, steps["id"])


def _step_node(op: Operator, steps: Node, before: int, name: str) -> Node | None:
    """The node of step ``name`` in the latest group before ``before`` that has it."""
    for k in range(before - 1, -1, -1):
        found = op.node(f"{steps['name']}[{k}].{name}")
        if found is not None:
            return found
        prefix = f"{steps['name']}[{k}].{name}("
        expanded = [n for n in op.nodes.values() if n["name"].startswith(prefix)]
        if expanded:  # aggregate the items like a TaskGroup does
            return {
                "id": prefix,
                "phase": _aggregate_phase(expanded),
                "type": NodeType.TASK_GROUP,
                "children": [n["id"] for n in expanded],
            }
    return None


def _aggregate_phase(nodes: list[Node]) -> str:
    bad = [n["phase"] for n in nodes if n["phase"] in FAILED]
    return bad[0] if bad else "Succeeded"


def _scope(op: Operator, steps: Node, index: int, item: Any) -> Scope:
    fixed = op.workflow_scope()
    if item is not None:
        fixed.update(item_scope(item))
    for p in (steps.get("inputs") or {}).get("parameters") or []:
        fixed[f"inputs.parameters.{p['name']}"] = p["value"]

    def lookup(key: str) -> str | None:
        parts = key.split(".")
        if parts[0] != "steps" or len(parts) < 3:
            return None
        node = _step_node(op, steps, index, parts[1])
        if node is None:
            return None
        return node_scope(f"steps.{parts[1]}", op.nodes, node).get(key)

    def expand() -> dict[str, str]:
        out: dict[str, str] = {}
        groups = op.templates[steps["templateName"]].get("steps") or []
        for name in dict.fromkeys(s["name"] for group in groups[:index] for s in group):
            node = _step_node(op, steps, index, name)
            if node is not None:
                out.update(node_scope(f"steps.{name}", op.nodes, node))
        return out

    return Scope(fixed, lookup, expand)
