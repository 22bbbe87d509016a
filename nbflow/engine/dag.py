"""DAG templates for the operator: depends, when, items, fan-in wiring and the DAG's phase."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError
from ..vocab import FAILED, FULFILLED, NodeType, Phase
from .calls import arguments, expansion
from .calls import items as call_items
from .dagplan import DagPlan, branch_phase, continues_on
from .hooks import hooks_done, run_hooks
from .nodes import Node, item_description, outbound, settled
from .outputs import export_globals, template_outputs
from .parallel import at_parallelism, fail_fast_blocks, fail_fast_ended
from .scope import Scope, item_scope, node_scope
from .variables import input_variables

if TYPE_CHECKING:
    from .operator import Operator



def execute_dag(op: Operator, node: Node, tmpl: dict[str, Any]) -> None:
    """Create the task nodes that became possible, advance the others, then assess."""
    plan = dag_plan(op, tmpl)
    prefix = node["name"]
    try:
        targets, needed = _targets(op, node, plan)
    except ManifestError as exc:
        op.mark(node, Phase.ERROR, exc.message)
        return
    blocked = (
        op.halted(prefix)
        or (plan.fail_fast and _dag_has_failure(op, prefix, plan))
        or fail_fast_blocks(op, node, tmpl)
    )
    for task in plan.tasks:
        if task["name"] not in needed:
            continue  # only the targets and what they depend on run
        existing = op.node(f"{prefix}.{task['name']}")
        if (
            existing is not None
            and "hooks" not in task
            and "onExit" not in task
            and (Phase(existing["phase"]).fulfilled)
        ):
            continue
        expr, deps = plan.depends[task["name"]]
        dep_nodes = [op.node(f"{prefix}.{d}") for d in deps]
        if existing is None:
            if any(not _settled(op, plan.by_name[d], n) for d, n in zip(deps, dep_nodes)):
                continue
            if expr and not _depends_true(op, expr, prefix, deps):
                _create_task_node(
                    op,
                    node,
                    task,
                    NodeType.SKIPPED,
                    Phase.OMITTED,
                    dep_nodes,
                    "omitted: depends condition not met",
                )
                continue
            if blocked:
                continue  # failFast: no new task starts after a failure (docs; see #10312)
            if at_parallelism(op, node, tmpl):
                continue
        if existing is None or not Phase(existing["phase"]).fulfilled:
            _execute_task(op, node, task, dep_nodes)
        task_node = op.node(f"{prefix}.{task['name']}")
        if task_node is not None and ("hooks" in task or "onExit" in task):
            run_hooks(op, node, task, task_node, _dag_scope(op, node, None))
    if not fail_fast_ended(op, node, tmpl, None):
        _assess_dag(op, node, plan, blocked, targets, needed)


def _targets(op: Operator, node: Node, plan: DagPlan) -> tuple[list[str], set[str]]:
    """The DAG's targets (``target`` may hold tags) and every task they depend on."""
    key = f"targets:{node['id']}"
    if key not in op.memo:
        targets = plan.targets
        if "{{" in plan.target_text:
            from ..argo.subst import substitute

            text = substitute(plan.target_text, _dag_scope(op, node, None), where="dag target")
            targets = text.split()
        unknown_ = [t for t in targets if t not in plan.by_name]
        if unknown_:
            raise ManifestError(f"target {unknown_[0]!r} is not a task of the DAG")
        needed = set(targets)
        frontier = list(targets)
        while frontier:
            for dep in plan.depends[frontier.pop()][1]:
                if dep not in needed:
                    needed.add(dep)
                    frontier.append(dep)
        op.memo[key] = (targets, needed)
    found: tuple[list[str], set[str]] = op.memo[key]
    return found


def _settled(op: Operator, task: dict[str, Any], node: Node | None) -> bool:
    """A dependency is settled once its node and its hooks are fulfilled."""
    return node is not None and settled(node) and hooks_done(op, task, node)


def dag_plan(op: Operator, tmpl: dict[str, Any]) -> DagPlan:
    """The DAG's tasks in dependency order with their expanded ``depends`` (cached)."""
    plan = op.plans.get(tmpl["name"])
    if plan is None:
        plan = op.plans[tmpl["name"]] = DagPlan.of(tmpl)
    return plan


# ------------------------------------------------------------------ tasks


def _execute_task(op: Operator, dag: Node, task: dict[str, Any], deps: list[Node | None]) -> None:
    name = f"{dag['name']}.{task['name']}"
    if not expansion(task):
        _execute_instance(op, dag, task, name, task["name"], None, deps)
        return
    group = op.node(name)
    if group is None:
        try:
            values = call_items(task, _dag_scope(op, dag, None))
        except ManifestError as exc:
            _create_task_node(op, dag, task, NodeType.SKIPPED, Phase.ERROR, deps, exc.message)
            return
        if not values:
            _create_task_node(
                op, dag, task, NodeType.SKIPPED, Phase.SKIPPED, deps, "Skipped, empty params"
            )
            return
        group = _create_task_node(op, dag, task, NodeType.TASK_GROUP, Phase.RUNNING, deps, None)
        group["children"] = []
        group["nbflowItems"] = values  # kept so that every reconcile expands the same items
    children = []
    for (item_name, display), item in zip(_item_names(op, group, task), group["nbflowItems"]):
        kid = op.node(item_name)
        if kid is not None and (kid["type"] == NodeType.POD or kid["phase"] in FULFILLED):
            children.append(kid["id"])  # nothing to advance here: workers report pods
            continue
        if kid is None and (
            op.halted(item_name) or at_parallelism(op, dag, op.templates[dag["templateName"]])
        ):
            continue
        kid = _execute_instance(op, dag, task, item_name, display, item, None)
        children.append(kid["id"])
    group["children"] = children  # item order, also after a retry recreated some items
    if len(children) < len(group["nbflowItems"]) and all(
        Phase(op.nodes[k]["phase"]).fulfilled for k in children
    ):
        op.mark(group, Phase.FAILED, op.stop_message)
        return
    kids = [op.nodes[k] for k in group["children"]]
    if all(settled(k) for k in kids):
        bad = [k for k in kids if k["phase"] in FAILED]
        op.mark(
            group,
            Phase(bad[0]["phase"]) if bad else Phase.SUCCEEDED,
            f"child '{bad[0]['id']}' failed" if bad else None,
        )


def _item_names(op: Operator, group: Node, task: dict[str, Any]) -> list[tuple[str, str]]:
    """Node name and display name of each item of a mapped task (worked out once per run)."""
    names = op.memo.get(group["id"])
    if names is None or len(names) != len(group["nbflowItems"]):
        descs = [f"{i}:{item_description(item)}" for i, item in enumerate(group["nbflowItems"])]
        names = [(f"{group['name']}({d})", f"{task['name']}({d})") for d in descs]
        op.memo[group["id"]] = names
    return names


def _execute_instance(
    op: Operator,
    dag: Node,
    task: dict[str, Any],
    name: str,
    display: str,
    item: Any,
    deps: list[Node | None] | None,
) -> Node:
    existing = op.node(name)
    if existing is not None and (
        existing["type"] == NodeType.POD or existing["phase"] in FULFILLED
    ):
        return existing  # nothing to advance here: workers report pods
    try:
        return _start_instance(op, dag, task, name, display, item, deps, existing)
    except ManifestError as exc:  # Argo errors the node (type Skipped: it never started)
        if existing is not None:
            op.mark(existing, Phase.ERROR, exc.message)
            return existing
        return _never_started(op, dag, task, name, display, deps, Phase.ERROR, exc.message)


def _start_instance(
    op: Operator,
    dag: Node,
    task: dict[str, Any],
    name: str,
    display: str,
    item: Any,
    deps: list[Node | None] | None,
    existing: Node | None,
) -> Node:
    scope = _dag_scope(op, dag, item)
    scope.fix("tasks.name", task["name"])
    if existing is None and task.get("when"):
        from ..argo.expr import evaluate_when
        from ..argo.subst import substitute

        cond = substitute(task["when"], scope, where=f"task {task['name']}")
        if not evaluate_when(cond, where=f"task {task['name']}"):
            msg = f"when '{cond}' evaluated false"
            return _never_started(op, dag, task, name, display, deps, Phase.SKIPPED, msg)
    args = arguments(task, scope, _finder(op, dag))
    node = op.execute(name, display, task["template"], args, dag["id"])
    if existing is None and deps is not None:
        _connect(op, dag, node, deps)
    return node


def _never_started(
    op: Operator,
    dag: Node,
    task: dict[str, Any],
    name: str,
    display: str,
    deps: list[Node | None] | None,
    phase: Phase,
    message: str,
) -> Node:
    """The Skipped-type node of a call that does not start: an item (``deps`` ``None``), or
    the task itself, wired to the tasks it depends on."""
    if deps is None:
        return op.create(
            name, display, NodeType.SKIPPED, phase, boundary=dag["id"], message=message
        )
    return _create_task_node(op, dag, task, NodeType.SKIPPED, phase, deps, message)


# ------------------------------------------------------------------ wiring


def _create_task_node(
    op: Operator,
    dag: Node,
    task: dict[str, Any],
    type_: str,
    phase: Phase,
    deps: list[Node | None],
    message: str | None,
) -> Node:
    node = op.create(
        f"{dag['name']}.{task['name']}",
        task["name"],
        type_,
        phase,
        template=task.get("template") if type_ == NodeType.SKIPPED else None,
        boundary=dag["id"],
        message=message,
    )
    _connect(op, dag, node, deps)
    return node


def _connect(op: Operator, dag: Node, node: Node, deps: list[Node | None]) -> None:
    parents = [p for d in deps if d is not None for p in outbound(op.nodes, d)] or [dag["id"]]
    for pid in parents:
        kids = op.nodes[pid].setdefault("children", [])
        if node["id"] not in kids:
            kids.append(node["id"])


def _finder(op: Operator, dag: Node) -> Any:
    def find(kind: str, name: str) -> Node | None:
        return op.node(f"{dag['name']}.{name}") if kind == "tasks" else None

    return find


def _dag_scope(op: Operator, dag: Node, item: Any) -> Scope:
    fixed = {**op.workflow_scope(), **input_variables(dag)}
    if item is not None:
        fixed.update(item_scope(item))
    prefix = dag["name"]

    def lookup(key: str) -> str | None:
        parts = key.split(".")
        if parts[0] != "tasks" or len(parts) < 3:
            return None
        producer = op.node(f"{prefix}.{parts[1]}")
        if producer is None:
            return None
        return node_scope(f"tasks.{parts[1]}", op.nodes, producer, op.templates).get(key)

    def expand() -> dict[str, str]:
        out: dict[str, str] = {}
        for name in dag_plan(op, op.templates[dag["templateName"]]).by_name:
            producer = op.node(f"{prefix}.{name}")
            if producer is not None:
                out.update(node_scope(f"tasks.{name}", op.nodes, producer, op.templates))
        return out

    return Scope(fixed, lookup, expand)


def _depends_true(op: Operator, expr: str, prefix: str, deps: list[str]) -> bool:
    from ..argo.depends import TaskResult, evaluate_depends

    results = {}
    for d in deps:
        n = op.nodes[op.node(f"{prefix}.{d}")["id"]]  # type: ignore[index]
        group = n["type"] == NodeType.TASK_GROUP
        kids = tuple(Phase(op.nodes[k]["phase"]) for k in n.get("children") or [] if group)
        results[d] = TaskResult(Phase(n["phase"]), kids, bool(n.get("daemoned")))
    return evaluate_depends(expr, results, where=prefix)


# ------------------------------------------------------------------ phase


def _dag_has_failure(op: Operator, prefix: str, plan: DagPlan) -> bool:
    """Whether a task failed in a way no continueOn and no dependent's depends handles."""
    for t in plan.tasks:
        n = op.node(f"{prefix}.{t['name']}")
        if n is None or n["phase"] not in FAILED:
            continue
        suffix = "Failed" if n["phase"] == "Failed" else "Errored"
        name = re.escape(t["name"])
        pattern = re.compile(rf"(?<![-\w]){name}\.({suffix}|AllFailed|AnySucceeded)\b")
        handled = continues_on(t, n["phase"]) or any(
            pattern.search(expr) for expr, _ in plan.depends.values()
        )
        if not handled:
            return True
    return False


def _assess_dag(
    op: Operator,
    node: Node,
    plan: DagPlan,
    blocked: bool,
    targets: list[str],
    needed: set[str],
) -> None:
    prefix = node["name"]
    by_name = plan.by_name
    task_nodes = {
        t["name"]: op.node(f"{prefix}.{t['name']}") for t in plan.tasks if t["name"] in needed
    }
    if any(n is not None and not _settled(op, by_name[t], n) for t, n in task_nodes.items()):
        return
    if not blocked and any(n is None for n in task_nodes.values()):
        return
    phase, culprit = Phase.SUCCEEDED, None
    for target in targets:
        branch, who = branch_phase(target, task_nodes, plan)
        handled = continues_on(by_name[target], branch)
        if branch in FAILED and not handled and phase == Phase.SUCCEEDED:
            phase, culprit = Phase(branch), who
    out: list[str] = []
    for target in targets:
        if task_nodes.get(target) is not None:
            out += outbound(op.nodes, task_nodes[target])  # type: ignore[arg-type]
    node["outboundNodes"] = out
    if phase == Phase.SUCCEEDED:
        tmpl = op.templates[node["templateName"]]
        try:
            outputs = template_outputs(tmpl, _dag_scope(op, node, None))
        except ManifestError as exc:
            op.mark(node, Phase.ERROR, exc.message)
            return
        if outputs:
            node["outputs"] = outputs
        op.mark(node, phase)
        export_globals(op, node, tmpl)
        return
    op.mark(node, phase, f"child '{culprit}' failed" if culprit else None)
