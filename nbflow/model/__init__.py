"""Pipeline model: templates, tasks and workflows as pure data (stdlib only).

Reading values (durations, literals, names) is :mod:`.values`; checking a workflow's wiring is
:mod:`.check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RETRY_POLICIES",
    "Retry",
    "Resources",
    "Template",
    "OutputRef",
    "Task",
    "Workflow",
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
    notify : dict, optional
        Who to tell when a run ends (``--notify``; see :mod:`nbflow.notify.spec`).
    """

    name: str
    templates: dict[str, Template] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()
    setup: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    parallelism: int | None = None
    on_exit: str | None = None
    schedule: str | None = None
    notify: dict[str, Any] | None = None
    where: str | None = None

    def task(self, name: str) -> Task:
        """Return the task called ``name``."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)
