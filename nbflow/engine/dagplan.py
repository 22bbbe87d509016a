"""What a DAG template implies, computed once from the manifest: task order, depends, targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ManifestError
from ..graph import order as graph_order
from ..graph import unknown
from ..vocab import COMPLETED, FAILED
from .nodes import Node

__all__ = ["DagPlan", "branch_phase", "continues_on"]


@dataclass
class DagPlan:
    """What a DAG template implies, computed once: order, depends, targets."""

    tasks: list[dict[str, Any]]
    by_name: dict[str, dict[str, Any]]
    depends: dict[str, tuple[str, list[str]]]
    targets: list[str]
    fail_fast: bool
    target_text: str = ""

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
        text = str(dag.get("target") or "")
        leaves = sorted(n for n in by_name if n not in used)
        targets = leaves if "{{" in text else text.split() or leaves
        graph = {n: d for n, (_, d) in depends.items()}
        where = f"template {tmpl['name']}"
        for name, missing in unknown(graph):
            raise ManifestError(f"task {name!r} depends on unknown task {missing!r}", where)
        order = [by_name[n] for n in graph_order(graph, where=where)]
        return cls(order, by_name, depends, targets, dag.get("failFast", True), text)


def continues_on(task: dict[str, Any], phase: str) -> bool:
    """Whether the task's ``continueOn`` lets its dependents go on after it ended ``phase``."""
    cont = task.get("continueOn") or {}
    return bool(cont.get("failed")) if phase == "Failed" else bool(cont.get("error"))


def branch_phase(
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
