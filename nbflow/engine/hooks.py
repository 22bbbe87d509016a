"""Task-level lifecycle hooks for the operator: ``hooks.exit`` / ``onExit`` and expression hooks.

After a task completes (Succeeded, Failed or Error; never Skipped or Omitted) its exit hook runs
as node ``<task node>.onExit``; a hook with an ``expression`` runs once, as
``<task node>.hooks.<name>``, as soon as its expression (over ``tasks.<name>.status``) is true.
Dependents of the task wait until its hooks are fulfilled (``docs/lifecyclehook.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..vocab import Phase
from .nodes import Node

if TYPE_CHECKING:
    from .operator import Operator
    from .scope import Scope

__all__ = ["task_hooks", "run_hooks", "hooks_done"]


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
