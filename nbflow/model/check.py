"""Checking a workflow's wiring: names, templates, cycles, inputs, parameters and maps."""

from __future__ import annotations

from ..errors import CycleError, SpecError
from ..graph import find_cycle
from . import OutputRef, Task, Workflow
from .values import ARGO_NAME, K8S_NAME, k8s_name

__all__ = ["check", "ancestors", "producer", "resolve_inputs"]



def ancestors(workflow: Workflow, name: str) -> list[str]:
    """All upstream tasks of ``name``, nearest first (breadth-first order)."""
    by_name = {t.name: t for t in workflow.tasks}
    seen: list[str] = []
    frontier = list(by_name[name].depends)
    while frontier:
        nxt: list[str] = []
        for up in frontier:
            if up not in seen and up in by_name:
                seen.append(up)
                nxt.extend(by_name[up].depends)
        frontier = nxt
    return seen


def producer(workflow: Workflow, task: Task, ref: OutputRef) -> str:
    """Name the one ancestor of ``task`` that outputs ``ref``; raise SpecError otherwise."""
    where = workflow.where
    ups = ancestors(workflow, task.name)
    if ref.task is not None:
        if ref.task not in ups:
            raise SpecError(
                f"task {task.name!r} uses {ref}, but {ref.task!r} is not upstream of it",
                where,
                task.line,
                task.col,
            )
        outs = workflow.templates[workflow.task(ref.task).template].outputs
        if ref.name not in outs:
            raise SpecError(
                f"task {ref.task!r} has no output {ref.name!r}", where, task.line, task.col
            )
        return ref.task
    makers = [u for u in ups if ref.name in workflow.templates[workflow.task(u).template].outputs]
    if not makers:
        raise SpecError(
            f"task {task.name!r} needs {ref.name!r}, but no upstream task outputs it "
            f"(add --outputs {ref.name} to an upstream template, or wire it with >>)",
            where,
            task.line,
            task.col,
        )
    if len(makers) > 1:
        raise SpecError(
            f"task {task.name!r} needs {ref.name!r}, which several upstream tasks output "
            f"({', '.join(sorted(makers))}); write e.g. {makers[0]}.{ref.name}",
            where,
            task.line,
            task.col,
        )
    return makers[0]


def resolve_inputs(workflow: Workflow) -> dict[tuple[str, str], str]:
    """Map ``(task, input name)`` to the upstream task producing it.

    Covers template inputs, :class:`OutputRef` arguments and map sources.
    """
    out: dict[tuple[str, str], str] = {}
    for task in workflow.tasks:
        tmpl = workflow.templates[task.template]
        refs = [OutputRef(i) for i in tmpl.inputs]
        refs += [v for v in task.arguments.values() if isinstance(v, OutputRef)]
        refs += [v for v in (task.map_items or {}).values() if isinstance(v, OutputRef)]
        for ref in refs:
            out[(task.name, str(ref))] = producer(workflow, task, ref)
    return out


def check(workflow: Workflow) -> None:
    """Validate a workflow's wiring; raise :class:`SpecError` on the first problem.

    Checks names (as Kubernetes and Argo accept them), unknown templates and tasks,
    duplicate names, cycles, inputs nobody produces, unknown or missing parameters and
    mismatched map lengths.
    """
    where = workflow.where
    if not K8S_NAME.fullmatch(k8s_name(workflow.name)) or len(workflow.name) > 52:
        raise SpecError(
            f"workflow name {workflow.name!r} is not a valid Kubernetes name: use lower-case "
            "letters, digits and '-' (at most 52 characters)",
            where,
        )
    seen_k8s: dict[str, str] = {}
    for name in list(workflow.templates) + [t.name for t in workflow.tasks]:
        if not ARGO_NAME.fullmatch(k8s_name(name)) or len(name) > 63:
            raise SpecError(
                f"name {name!r} is not valid in Argo: start with a letter, then letters, "
                "digits, '-' or '_'",
                where,
            )
    for t in workflow.templates.values():
        other = seen_k8s.setdefault(k8s_name(t.name), t.name)
        if other != t.name:
            raise SpecError(
                f"template names {other!r} and {t.name!r} collide once '_' becomes '-'", where
            )
    names: set[str] = set()
    for task in workflow.tasks:
        if task.name in names:
            raise SpecError(f"duplicate task name {task.name!r}", where, task.line, task.col)
        names.add(task.name)
        if task.template not in workflow.templates:
            raise SpecError(
                f"unknown template {task.template!r} (defined: "
                f"{', '.join(sorted(workflow.templates)) or 'none'})",
                where,
                task.line,
                task.col,
            )
    for task in workflow.tasks:
        for up in task.depends:
            if up not in names:
                raise SpecError(
                    f"task {task.name!r} depends on unknown task {up!r}", where, task.line, task.col
                )
    cycle = find_cycle({t.name: t.depends for t in workflow.tasks})
    if cycle:
        raise CycleError(cycle, where)
    if workflow.on_exit is not None and workflow.on_exit not in workflow.templates:
        raise SpecError(f"--on-exit names unknown template {workflow.on_exit!r}", where)
    for task in workflow.tasks:
        _check_parameters(workflow, task)
    known = {p for t in workflow.templates.values() for p in t.parameters}
    for p in sorted(set(workflow.parameters) - known):
        raise SpecError(
            f"-p {p}=...: no template of workflow {workflow.name!r} has a parameter {p!r} "
            f"(known: {', '.join(sorted(known)) or 'none'})",
            where,
        )
    resolve_inputs(workflow)


def _check_parameters(workflow: Workflow, task: Task) -> None:
    where = workflow.where
    tmpl = workflow.templates[task.template]
    given = set(task.arguments) | set(task.map_items or {})
    for p in sorted(given - set(tmpl.parameters)):
        raise SpecError(
            f"task {task.name!r}: template {tmpl.name!r} has no parameter {p!r} "
            f"(its parameters: {', '.join(sorted(tmpl.parameters)) or 'none'})",
            where,
            task.line,
            task.col,
        )
    both = set(task.arguments) & set(task.map_items or {})
    if both:
        raise SpecError(
            f"task {task.name!r}: parameter {sorted(both)[0]!r} is both set and mapped",
            where,
            task.line,
            task.col,
        )
    lists = [v for v in (task.map_items or {}).values() if not isinstance(v, OutputRef)]
    if len({len(v) for v in lists}) > 1:
        raise SpecError(
            f"task {task.name!r}: .map() lists have different lengths "
            f"({', '.join(str(len(v)) for v in lists)}); they are zipped",
            where,
            task.line,
            task.col,
        )
    refs = [v for v in (task.map_items or {}).values() if isinstance(v, OutputRef)]
    if refs and len(task.map_items or {}) > 1:
        raise SpecError(
            f"task {task.name!r}: map over an upstream output takes one parameter only",
            where,
            task.line,
            task.col,
        )
