"""Lifecycle hooks for the operator: exit handlers and expression hooks, of tasks and workflows.

After a task completes (Succeeded, Failed or Error; never Skipped or Omitted) its exit hook runs
as node ``<task node>.onExit``; a hook with an ``expression`` runs once, as
``<task node>.hooks.<name>``, as soon as its expression (over ``tasks.<name>.status``) is true.
Dependents of the task wait until its hooks are fulfilled (``docs/lifecyclehook.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..vocab import FAILED, NodeType, Phase
from .nodes import Node, workflow_phase
from .scope import Scope

if TYPE_CHECKING:
    from .operator import Operator

__all__ = [
    "task_hooks",
    "run_hooks",
    "hooks_done",
    "workflow_hooks",
    "exit_handler_done",
]


def task_hooks(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The task's hooks by name, the deprecated ``onExit`` folded into ``exit``."""
    hooks = dict(task.get("hooks") or {})
    if task.get("onExit") and "exit" not in hooks:
        hooks["exit"] = {"template": task["onExit"]}
    return hooks


def _hook_name(node: Node, name: str) -> str:
    return f"{node['name']}.onExit" if name == "exit" else f"{node['name']}.hooks.{name}"


def run_hooks(op: Operator, dag: Node, task: dict[str, Any], node: Node, scope: Scope) -> None:
    """Start or advance the hooks of a task whose node is ``node``."""
    from ..argo.expr import evaluate_expr
    from ..argo.subst import scope_variables, substitute_obj

    for name, hook in task_hooks(task).items():
        hook_name = _hook_name(node, name)
        existing = op.node(hook_name)
        if existing is None:
            if name == "exit":
                if not Phase(node["phase"]).completed:
                    continue
            elif not hook.get("expression") or not evaluate_expr(
                hook["expression"], scope_variables(scope_with_status(scope, task, node))
            ):
                continue
        args = substitute_obj(hook.get("arguments") or {}, scope, where=f"hook {hook_name}")
        hook_node = op.execute(
            hook_name, hook_name.removeprefix(f"{dag['name']}."), hook["template"], args, dag["id"]
        )
        hook_node.setdefault("nodeFlag", {"hooked": True})


def scope_with_status(scope: Scope, task: dict[str, Any], node: Node) -> dict[str, str]:
    """The flat variables a hook expression sees: the scope plus ``tasks.<name>.status``."""
    values = {key: scope[key] for key in scope}
    values[f"tasks.{task['name']}.status"] = node["phase"]
    return values


def hooks_done(op: Operator, task: dict[str, Any], node: Node | None) -> bool:
    """Whether every hook the task's node started, or will start, is fulfilled."""
    if node is None:
        return True
    for name in task_hooks(task):
        hook = op.node(_hook_name(node, name))
        if hook is None:
            if name == "exit" and Phase(node["phase"]).completed:
                return False  # not started yet
            continue
        if not Phase(hook["phase"]).fulfilled:
            return False
    return True


# ------------------------------------------------------------------ workflow level


def workflow_hooks(op: Operator, root: Node) -> bool:
    """Run ``spec.hooks`` with an ``expression`` (over ``workflow.status``) once it holds;
    return whether every started hook is fulfilled."""
    from ..argo.expr import evaluate_expr
    from ..argo.subst import scope_variables

    done = True
    for name, hook in (op.spec.get("hooks") or {}).items():
        if name == "exit" or not hook.get("expression"):
            continue
        node_name = f"{op.name}.hooks.{name}"
        node = op.node(node_name)
        if node is None:
            status = root["phase"] if root["phase"] != "Pending" else "Running"
            values = {**op.workflow_scope(), "workflow.status": status}
            if op.halted(node_name) or not evaluate_expr(
                hook["expression"], scope_variables(values)
            ):
                continue
        node = op.execute(
            node_name, f"hooks.{name}", hook["template"], hook.get("arguments") or {}, op.name
        )
        node.setdefault("nodeFlag", {"hooked": True})
        done = done and Phase(node["phase"]).fulfilled
    return done


def exit_handler_done(op: Operator, root: Node) -> bool:
    """Start or advance the workflow's exit handler (``onExit`` / ``hooks.exit``) once the
    entry node is fulfilled; return whether it is done (or there is none)."""
    hook = (op.spec.get("hooks") or {}).get("exit") or {}
    handler = op.spec.get("onExit") or hook.get("template")
    if not handler or op.shutdown == "Terminate":
        return True
    if "exitStatus" not in op.status:
        halted = op.shutdown or op.deadline_passed
        op.status["exitStatus"] = "Failed" if halted else workflow_phase(root)
        op.status["exitFailures"] = _failures(op)
    args = hook.get("arguments") or {}
    if args:
        from ..argo.subst import substitute_obj

        args = substitute_obj(args, Scope(op.workflow_scope()), where="hooks.exit")
    exit_node = op.execute(f"{op.name}.onExit", "onExit", handler, args, op.name)
    exit_node.setdefault("nodeFlag", {"hooked": True})
    return Phase(exit_node["phase"]).fulfilled


def _failures(op: Operator) -> str:
    """``workflow.failures``: every Failed or Error pod, as Argo lists them."""
    import json

    rows = [
        {
            "displayName": n["displayName"],
            "message": n.get("message", ""),
            "templateName": n.get("templateName", ""),
            "phase": n["phase"],
            "podName": n["id"],
            "finishedAt": n.get("finishedAt", ""),
        }
        for n in op.nodes.values()
        if n["phase"] in FAILED and n["type"] == NodeType.POD
    ]
    return json.dumps(rows, separators=(",", ":"))
