"""What the graph's buttons do: which actions a run offers now, and doing one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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

    What its driver can do at all (``driver.actions``: a cluster run cannot rerun from a task,
    nor be resumed as a crashed local run can), narrowed by the run's state now.
    """
    driver = run.driver
    can = driver.actions if driver is not None else frozenset()
    live = run.live
    stopped = bool((run.workflow.get("spec") or {}).get("shutdown"))
    local = "resume_run" in can
    offered = {
        "stop": live and not run.done,
        "resume": bool(suspended(run)) and (live or not local),
        "retry": not live and run.phase in FAILED,
        "resume_run": not live and (stopped or run.phase == "Running"),
        "rerun": not live and run.done and (has_workflow_source or _from_file(run)),
    }
    return [name for name in ACTIONS if name in can and offered[name]]


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
) -> None:
    """Do action ``name`` on ``run``; the same run object goes on (its driver carries it out).

    ``stop``; ``resume`` (the suspended ``task``, else every suspended node); ``retry`` (the
    failed tasks of an ended run); ``resume_run`` (a stopped or crashed run); ``rerun`` (from
    ``task``, recompiled from ``workflow_source()`` when given, else from its notebook file).
    """
    if name == "stop":
        run.stop()
    elif name == "resume":
        run.resume([task] if task and task in suspended(run) else None)
    elif name == "retry":
        run.retry()
    elif name == "resume_run":
        run.resume()
    elif name == "rerun":
        if not task:
            raise NbflowError("select the task to rerun from")
        from .. import api

        source = workflow_source() if workflow_source is not None else None
        api.rerun_from(run, task, wait=False, workflow=source)
    else:
        raise NbflowError(f"unknown action {name!r} (one of {', '.join(ACTIONS)})")
