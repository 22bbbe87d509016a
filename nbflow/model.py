"""Pipeline model: templates, tasks and workflows as pure, validated data (stdlib only)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import CycleError, SpecError

__all__ = [
    "Retry",
    "Resources",
    "Template",
    "OutputRef",
    "Task",
    "Workflow",
    "parse_duration",
    "parse_value",
    "parse_assignment",
    "k8s_name",
    "find_cycle",
    "ancestors",
    "resolve_inputs",
    "check",
]


RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")


@dataclass(frozen=True)
class Retry:
    """A retry strategy: ``limit`` extra attempts, waiting ``backoff_s * factor**(n-1)``.

    ``max_backoff_s`` caps a single wait (Argo's ``backoff.cap``).
    """

    limit: int
    policy: str = "Always"
    backoff_s: float | None = None
    factor: int | None = None
    max_backoff_s: float | None = None


@dataclass(frozen=True)
class Resources:
    """Kubernetes resource requests of a template, in Kubernetes quantity syntax."""

    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True)
class Template:
    """A unit of work: a notebook cell, or a whole notebook, run as one papermill step.

    Parameters
    ----------
    name : str
        Template name as the user wrote it.
    source : str
        The cell's code (cell templates).
    notebook : str, optional
        Path of a whole-notebook template; ``source`` is then empty.
    inputs, outputs : tuple of str
        Variables read from upstream tasks / saved for downstream tasks.
    parameters : dict
        Parameter names and their default values (Python literals).
    cell : int, optional
        0-based index of the defining cell, for messages.
    cache : bool
        Whether the local engine may reuse an earlier result of this template (same code,
        image, parameters and input contents) instead of running it.
    """

    name: str
    source: str = ""
    notebook: str | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    retry: Retry | None = None
    timeout_s: float | None = None
    resources: Resources = Resources()
    image: str | None = None
    cell: int | None = None
    cache: bool = True


@dataclass(frozen=True)
class OutputRef:
    """A reference to an upstream task's output, e.g. ``shards`` or ``extract.shards``."""

    name: str
    task: str | None = None

    def __str__(self) -> str:
        return f"{self.task}.{self.name}" if self.task else self.name


@dataclass(frozen=True)
class Task:
    """One node of the DAG: a template invocation.

    Parameters
    ----------
    name : str
        Task name, unique in the workflow (defaults to the template name).
    template : str
        Name of the template it runs.
    arguments : dict
        Parameter values (literals, or :class:`OutputRef`).
    map_items : dict, optional
        Parameters to map over: a list of values each (zipped), or one :class:`OutputRef`
        to an upstream JSON list. One task instance runs per item.
    depends : tuple of str
        Upstream task names.
    when : str, optional
        A Python-syntax condition over upstream outputs, e.g. ``"accuracy > 0.9"``.
    continue_on_fail : bool
        Downstream tasks run even if this one fails.
    line, col : int, optional
        Where the task first appears in the ``%%workflow`` cell.
    """

    name: str
    template: str
    arguments: dict[str, Any] = field(default_factory=dict)
    map_items: dict[str, Any] | None = None
    depends: tuple[str, ...] = ()
    when: str | None = None
    continue_on_fail: bool = False
    line: int | None = None
    col: int | None = None


@dataclass(frozen=True)
class Workflow:
    """A named DAG of tasks over templates, plus the code every step shares.

    Parameters
    ----------
    name : str
        Workflow name (a DNS-1123 label).
    templates : dict
        Template name to :class:`Template`.
    tasks : tuple of Task
        The DAG, in definition order.
    setup : tuple of str
        Code of the ``%%setup`` cells, prepended to every step notebook.
    parameters : dict
        Workflow parameters set at run time (``-p k=v``); every template parameter of
        that name takes the value.
    parallelism : int, optional
        Maximum number of steps running at once.
    on_exit : str, optional
        Template run after the DAG, whatever its outcome.
    schedule : str, optional
        Cron schedule for a CronWorkflow.
    """

    name: str
    templates: dict[str, Template] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()
    setup: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    parallelism: int | None = None
    on_exit: str | None = None
    schedule: str | None = None
    where: str | None = None

    def task(self, name: str) -> Task:
        """Return the task called ``name``."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)


# ----------------------------------------------------------------------------- values

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int) -> float:
    """Parse ``"90"``, ``"2s"``, ``"1m30s"``, ``"10m"`` or ``"2h"`` into seconds.

    A bare number means seconds (as in Argo). Raises ``ValueError`` on anything else.
    """
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 2h)")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as a Go duration string accepted by Argo (``"90s"``, ``"1.5s"``)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:g}s"


def parse_value(text: str) -> Any:
    """Read a parameter value: a Python literal when it is one, otherwise the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``"k=v"`` into ``("k", parse_value("v"))``; raise ``ValueError`` if malformed."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    return key, parse_value(value)


_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ARGO_NAME = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")


def k8s_name(name: str) -> str:
    """Map a Python-style name to the name used in manifests (``_`` becomes ``-``)."""
    return name.replace("_", "-")


# ----------------------------------------------------------------------------- graph


def find_cycle(edges: dict[str, tuple[str, ...]]) -> list[str] | None:
    """Return a cycle in ``edges`` (node -> its upstream nodes) as a path, or ``None``.

    The path starts and ends with the same node and follows the data flow direction.
    """
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for up in edges.get(node, ()):
            if state.get(up) == 1:
                cycle = stack[stack.index(up) :] + [up]
                return list(reversed(cycle))
            if up not in state:
                found = visit(up)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


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


def _producer(workflow: Workflow, task: Task, ref: OutputRef) -> str:
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
            out[(task.name, str(ref))] = _producer(workflow, task, ref)
    return out


def check(workflow: Workflow) -> None:
    """Validate a workflow's wiring; raise :class:`SpecError` on the first problem.

    Checks names (as Kubernetes and Argo accept them), unknown templates and tasks,
    duplicate names, cycles, inputs nobody produces, unknown or missing parameters and
    mismatched map lengths.
    """
    where = workflow.where
    if not _K8S_NAME.fullmatch(k8s_name(workflow.name)) or len(workflow.name) > 52:
        raise SpecError(
            f"workflow name {workflow.name!r} is not a valid Kubernetes name: use lower-case "
            "letters, digits and '-' (at most 52 characters)",
            where,
        )
    seen_k8s: dict[str, str] = {}
    for name in list(workflow.templates) + [t.name for t in workflow.tasks]:
        if not _ARGO_NAME.fullmatch(k8s_name(name)) or len(name) > 63:
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
