"""What the graph's buttons do: which actions a run offers now, and doing one."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import NbflowError
from ..vocab import FAILED, NodeType

if TYPE_CHECKING:
    from ..engine.run import Run
    from ..model import Workflow

__all__ = ["ACTIONS", "available_actions", "suspended", "perform"]

#: Every action, in the order of the buttons.
ACTIONS = ("stop", "resume", "retry", "resume_run", "rerun")


def suspended(run: Run) -> list[str]:
    """Display names of the run's suspend nodes waiting to be resumed."""
    return [
        n.get("displayName", "")
        for n in run.nodes.values()
        if n.get("type") == NodeType.SUSPEND and n.get("phase") == "Running"
    ]


def available_actions(run: Run, has_workflow_source: bool = False) -> list[str]:
    """The actions ``run`` offers now, among :data:`ACTIONS`.

    A run that follows a cluster (it has ``follow()``) retries and resumes through its own
    methods; a local run through the engine's functions in :mod:`nbflow.api`, which also
    resume a stopped or crashed run and rerun from a task.
    """
    live = bool(getattr(run, "live", getattr(run, "_engine", None) is not None))
    stopped = bool((run.workflow.get("spec") or {}).get("shutdown"))
    local = not hasattr(run, "follow")
    offered = {
        "stop": live and not run.done,
        "resume": bool(suspended(run)) and hasattr(run, "resume") and (live or not local),
        "retry": not live and run.phase in FAILED,
        "resume_run": local and not live and (stopped or run.phase == "Running"),
        "rerun": local and not live and run.done and (has_workflow_source or _from_file(run)),
    }
    return [name for name in ACTIONS if offered[name]]


def _from_file(run: Run) -> bool:
    """Whether the run records the notebook it came from (so rerun can recompile it)."""
    from ..engine.store import RunStore

    try:
        _, settings = RunStore(run.run_dir.parent).load(run.id)
    except (NbflowError, OSError, ValueError):
        return False
    return bool(settings.get("notebook"))


def perform(
    run: Run,
    name: str,
    task: str | None = None,
    workflow_source: Callable[[], Workflow] | None = None,
) -> Any:
    """Do action ``name`` on ``run``; return the run object that goes on, if a new one does.

    ``stop``; ``resume`` (the suspended ``task``, else every suspended node); ``retry`` (the
    failed tasks of an ended run); ``resume_run`` (a stopped or crashed run); ``rerun`` (from
    ``task``, recompiled from ``workflow_source()`` when given, else from its notebook file).
    """
    from .. import api

    if name == "stop":
        run.stop()
        return None
    if name == "resume":
        takes_names = bool(inspect.signature(run.resume).parameters)
        if takes_names and task in suspended(run):
            run.resume([task])
        else:
            run.resume()
        return None
    if name == "retry":
        return run.retry() if hasattr(run, "retry") else api.retry_run(run.id, wait=False)
    if name == "resume_run":
        return api.resume_run(run.id, wait=False)
    if name == "rerun":
        if not task:
            raise NbflowError("select the task to rerun from")
        source = workflow_source() if workflow_source is not None else None
        return api.rerun_from(run.id, task, wait=False, workflow=source)
    raise NbflowError(f"unknown action {name!r} (one of {', '.join(ACTIONS)})")
