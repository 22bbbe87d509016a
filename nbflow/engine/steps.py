"""Steps templates for the operator: sequential groups of parallel steps, as Argo runs them.

Node shape (``workflow/controller/steps.go``): the template's node (type ``Steps``) has the first
group ``<node>[0]`` (type ``StepGroup``) as child; steps are ``<node>[i].<step>``, expanded steps
``<node>[i].<step>(j:desc)`` directly in their group; every outbound node of group ``i``'s children
has group ``i+1`` as child. A group fails when a step fails without ``continueOn``; the template
then fails and later groups never start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ManifestError
from ..vocab import FAILED, FULFILLED, NodeType, Phase
from .calls import arguments, expansion, items
from .hooks import hooks_done, run_hooks
from .nodes import Node, item_description, outbound, settled
from .outputs import export_globals, template_outputs
from .parallel import at_parallelism, fail_fast_blocks, fail_fast_ended
from .scope import Scope, item_scope, node_scope
from .variables import input_variables

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["execute_steps"]



def execute_steps(op: Operator, node: Node, tmpl: dict[str, Any]) -> None:
    """Advance a Steps node: run its groups in order, each group's steps in parallel."""
    previous: Node | None = None
    groups = tmpl.get("steps") or []
    for i, group in enumerate(groups):
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
            if fail_fast_ended(op, node, tmpl, gnode):
                return
            if not Phase(gnode["phase"]).fulfilled:
                return
        if gnode["phase"] in FAILED:
            op.mark(node, Phase(gnode["phase"]), gnode.get("message"))
            return
        previous = gnode
    node["outboundNodes"] = _outbound_of_group(op, previous) if previous else []
    try:
        outputs = template_outputs(tmpl, _scope(op, node, len(groups), None))
    except ManifestError as exc:
        op.mark(node, Phase.ERROR, exc.message)
        return
    if outputs:
        node["outputs"] = outputs
    op.mark(node, Phase.SUCCEEDED)
    export_globals(op, node, tmpl)


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
    waiting = False  # a step that the template's parallelism or failFast holds back
    for call in calls:
        name = f"{group['name']}.{call['name']}"
        if not expansion(call):
            kid = _execute_step(op, steps, group, call, name, call["name"], None, index)
            if kid is None:
                waiting = True
                continue
            kids.append(kid["id"])
            by_kid[kid["id"]] = call
            continue
        try:
            values = items(call, _scope(op, steps, index, None))
        except ManifestError as exc:
            kid = op.node(name) or op.create(
                name, call["name"], NodeType.SKIPPED, Phase.ERROR, boundary=steps["id"],
                message=exc.message,
            )
            kids.append(kid["id"])
            continue
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
            if kid is None:
                waiting = True
                continue
            kids.append(kid["id"])
            by_kid[kid["id"]] = call
    group["children"] = kids
    scope: Scope | None = None
    for kid_id, call in by_kid.items():
        if "hooks" in call or "onExit" in call:
            scope = scope or _scope(op, steps, index + 1, None)
            run_hooks(op, steps, call, op.nodes[kid_id], scope)
    nodes = [op.nodes[k] for k in kids]
    hooked = all(hooks_done(op, by_kid[k], op.nodes[k]) for k in by_kid)
    if not waiting and hooked and all(settled(n) for n in nodes):
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
) -> Node | None:
    existing = op.node(name)
    if existing is not None and (
        existing["type"] == NodeType.POD or existing["phase"] in FULFILLED
    ):
        return existing
    tmpl = op.templates[steps["templateName"]]
    if existing is None and (fail_fast_blocks(op, steps, tmpl) or at_parallelism(op, steps, tmpl)):
        return None
    try:
        return _start_step(op, steps, call, name, display, item, index, existing)
    except ManifestError as exc:  # Argo errors the node (type Skipped: it never started)
        if existing is not None:
            op.mark(existing, Phase.ERROR, exc.message)
            return existing
        return op.create(
            name, display, NodeType.SKIPPED, Phase.ERROR, boundary=steps["id"], message=exc.message
        )


def _start_step(
    op: Operator,
    steps: Node,
    call: dict[str, Any],
    name: str,
    display: str,
    item: Any,
    index: int,
    existing: Node | None,
) -> Node:
    scope = _scope(op, steps, index, item, call["name"])
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
                template=call.get("template"),
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
        expanded = [
            n
            for n in op.nodes.values()
            if n["name"].startswith(prefix)
            and n.get("boundaryID") == steps["id"]
            and not (n.get("nodeFlag") or {}).get("retried")
            and ".onExit" not in n["name"][len(prefix) :]
            and ".hooks." not in n["name"][len(prefix) :]
        ]
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


def _scope(op: Operator, steps: Node, index: int, item: Any, name: str | None = None) -> Scope:
    fixed = {**op.workflow_scope(), **input_variables(steps)}
    if name is not None:
        fixed["steps.name"] = name
    if item is not None:
        fixed.update(item_scope(item))

    def lookup(key: str) -> str | None:
        parts = key.split(".")
        if parts[0] != "steps" or len(parts) < 3:
            return None
        node = _step_node(op, steps, index, parts[1])
        if node is None:
            return None
        return node_scope(f"steps.{parts[1]}", op.nodes, node, op.templates).get(key)

    def expand() -> dict[str, str]:
        out: dict[str, str] = {}
        groups = op.templates[steps["templateName"]].get("steps") or []
        for name in dict.fromkeys(s["name"] for group in groups[:index] for s in group):
            node = _step_node(op, steps, index, name)
            if node is not None:
                out.update(node_scope(f"steps.{name}", op.nodes, node, op.templates))
        return out

    return Scope(fixed, lookup, expand)
