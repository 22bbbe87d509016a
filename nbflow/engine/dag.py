"""DAG templates for the operator: depends, when, items, fan-in wiring and the DAG's phase."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError
from ..graph import order as graph_order
from ..graph import unknown
from ..vocab import BOUNDARY_TYPES, COMPLETED, FAILED, FULFILLED, NodeType, Phase
from .calls import arguments, expansion
from .calls import items as call_items
from .hooks import hooks_done, run_hooks
from .nodes import Node, item_description, outbound
from .scope import Scope, item_scope, node_scope

if TYPE_CHECKING:
    from .operator import Operator



def execute_dag(op: Operator, node: Node, tmpl: dict[str, Any]) -> None:
    """Create the task nodes that became possible, advance the others, then assess."""
    plan = dag_plan(op, tmpl)
    prefix = node["name"]
    blocked = op.halted(prefix) or (plan.fail_fast and _dag_has_failure(op, prefix, plan))
    for task in plan.tasks:
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
            if _at_parallelism(op, node, tmpl):
                continue
        if existing is None or not Phase(existing["phase"]).fulfilled:
            _execute_task(op, node, task, dep_nodes)
        task_node = op.node(f"{prefix}.{task['name']}")
        if task_node is not None and ("hooks" in task or "onExit" in task):
            run_hooks(op, node, task, task_node, _dag_scope(op, node, None))
    _assess_dag(op, node, plan, blocked)


def _settled(op: Operator, task: dict[str, Any], node: Node | None) -> bool:
    """A dependency is settled once its node and its hooks are fulfilled."""
    return node is not None and Phase(node["phase"]).fulfilled and hooks_done(op, task, node)


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
        values = call_items(task, _dag_scope(op, dag, None))
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
            op.halted(item_name) or _at_parallelism(op, dag, op.templates[dag["templateName"]])
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
    if all(Phase(k["phase"]).fulfilled for k in kids):
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
    scope = _dag_scope(op, dag, item)
    if existing is None and task.get("when"):
        from ..argo.expr import evaluate_when
        from ..argo.subst import substitute

        cond = substitute(task["when"], scope, where=f"task {task['name']}")
        if not evaluate_when(cond, where=f"task {task['name']}"):
            msg = f"when '{cond}' evaluated false"
            if deps is None:
                return op.create(
                    name, display, NodeType.SKIPPED, Phase.SKIPPED, boundary=dag["id"], message=msg
                )
            return _create_task_node(op, dag, task, NodeType.SKIPPED, Phase.SKIPPED, deps, msg)
    args = arguments(task, scope, _finder(op, dag))
    node = op.execute(name, display, task["template"], args, dag["id"])
    if existing is None and deps is not None:
        _connect(op, dag, node, deps)
    return node


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
    fixed = op.workflow_scope()
    for p in (dag.get("inputs") or {}).get("parameters") or []:
        fixed[f"inputs.parameters.{p['name']}"] = p["value"]
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
        return node_scope(f"tasks.{parts[1]}", op.nodes, producer).get(key)

    def expand() -> dict[str, str]:
        out: dict[str, str] = {}
        for name in dag_plan(op, op.templates[dag["templateName"]]).by_name:
            producer = op.node(f"{prefix}.{name}")
            if producer is not None:
                out.update(node_scope(f"tasks.{name}", op.nodes, producer))
        return out

    return Scope(fixed, lookup, expand)


def _depends_true(op: Operator, expr: str, prefix: str, deps: list[str]) -> bool:
    from ..argo.depends import TaskResult, evaluate_depends

    results = {}
    for d in deps:
        n = op.nodes[op.node(f"{prefix}.{d}")["id"]]  # type: ignore[index]
        group = n["type"] == NodeType.TASK_GROUP
        kids = tuple(Phase(op.nodes[k]["phase"]) for k in n.get("children") or [] if group)
        results[d] = TaskResult(Phase(n["phase"]), kids)
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
        handled = _continues(t, n["phase"]) or any(
            pattern.search(expr) for expr, _ in plan.depends.values()
        )
        if not handled:
            return True
    return False


def _assess_dag(op: Operator, node: Node, plan: DagPlan, blocked: bool) -> None:
    prefix = node["name"]
    by_name = plan.by_name
    task_nodes = {t["name"]: op.node(f"{prefix}.{t['name']}") for t in plan.tasks}
    if any(n is not None and not _settled(op, by_name[t], n) for t, n in task_nodes.items()):
        return
    if not blocked and any(n is None for n in task_nodes.values()):
        return
    targets = plan.targets
    phase, culprit = Phase.SUCCEEDED, None
    for target in targets:
        branch, who = _branch_phase(target, task_nodes, plan)
        handled = _continues(by_name[target], branch)
        if branch in FAILED and not handled and phase == Phase.SUCCEEDED:
            phase, culprit = Phase(branch), who
    out: list[str] = []
    for target in targets:
        if task_nodes.get(target) is not None:
            out += outbound(op.nodes, task_nodes[target])  # type: ignore[arg-type]
    node["outboundNodes"] = out
    op.mark(node, phase, f"child '{culprit}' failed" if culprit else None)


@dataclass
class DagPlan:
    """What a DAG template implies, computed once: order, depends, targets."""

    tasks: list[dict[str, Any]]
    by_name: dict[str, dict[str, Any]]
    depends: dict[str, tuple[str, list[str]]]
    targets: list[str]
    fail_fast: bool

    @classmethod
    def of(cls, tmpl: dict[str, Any]) -> DagPlan:
        """Analyse a DAG template; raise ManifestError on cycles or unknown tasks."""
        from ..argo.depends import dependencies_to_depends, depends_tasks, expand_depends

        dag = tmpl["dag"]
        tasks = dag.get("tasks") or []
        by_name = {t["name"]: t for t in tasks}
        cont = {
            n: (
                bool((t.get("continueOn") or {}).get("failed")),
                bool((t.get("continueOn") or {}).get("error")),
            )
            for n, t in by_name.items()
        }
        depends: dict[str, tuple[str, list[str]]] = {}
        for t in tasks:
            if t.get("depends"):
                expr = expand_depends(t["depends"], cont)
            elif t.get("dependencies"):
                expr = dependencies_to_depends(t["dependencies"], cont)
            else:
                expr = ""
            depends[t["name"]] = (expr, depends_tasks(expr) if expr else [])
        used = {d for _, deps in depends.values() for d in deps}
        targets = (dag.get("target") or "").split() or sorted(n for n in by_name if n not in used)
        graph = {n: d for n, (_, d) in depends.items()}
        where = f"template {tmpl['name']}"
        for name, missing in unknown(graph):
            raise ManifestError(f"task {name!r} depends on unknown task {missing!r}", where)
        order = [by_name[n] for n in graph_order(graph, where=where)]
        return cls(order, by_name, depends, targets, dag.get("failFast", True))


def _at_parallelism(op: Operator, dag: Node, tmpl: dict[str, Any]) -> bool:
    """Whether the DAG template's ``parallelism`` allows no new direct child right now."""
    limit = tmpl.get("parallelism")
    if not limit:
        return False
    active = sum(
        1
        for n in op.nodes.values()
        if n.get("boundaryID") == dag["id"]
        and n["type"] in (NodeType.POD, *BOUNDARY_TYPES, NodeType.SUSPEND)
        and not Phase(n["phase"]).fulfilled
    )
    return active >= int(limit)


def _continues(task: dict[str, Any], phase: str) -> bool:
    cont = task.get("continueOn") or {}
    return bool(cont.get("failed")) if phase == "Failed" else bool(cont.get("error"))


def _branch_phase(
    target: str, nodes: dict[str, Node | None], plan: DagPlan
) -> tuple[str, str | None]:
    """A target's phase; for a Skipped/Omitted/unstarted target, its ancestors' (Failed first)."""
    node = nodes.get(target)
    if node is not None and node["phase"] in COMPLETED:
        return node["phase"], node["id"]
    frontier, seen = [target], set()
    while frontier:
        name = frontier.pop(0)
        if name in seen:
            continue
        seen.add(name)
        n = nodes.get(name)
        if n is not None and n["phase"] in FAILED and name != target:
            return n["phase"], n["id"]
        frontier += plan.depends[name][1]
    return "Succeeded", None
