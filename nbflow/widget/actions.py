"""What the graph's buttons do: which actions a run offers now, and doing one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..argo.manifest import entry_template
from ..errors import NbflowError
from ..vocab import FAILED, NodeType

if TYPE_CHECKING:
    from ..engine.run import Run
    from ..model import Workflow

__all__ = ["ACTIONS", "available_actions", "suspended", "perform", "edited_since", "retry_note"]

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


def _step_code(manifest: dict[str, Any]) -> dict[str, str]:
    """The step notebook (the code) of each template of ``manifest``, by template name."""
    from ..vocab import STEP_NOTEBOOK

    out = {}
    for tmpl in (manifest.get("spec") or {}).get("templates") or []:
        for art in (tmpl.get("inputs") or {}).get("artifacts") or []:
            if art.get("name") == STEP_NOTEBOOK and "raw" in art:
                out[tmpl["name"]] = str(art["raw"].get("data"))
    return out


def edited_since(run: Run, workflow: Workflow) -> list[str]:
    """The failed tasks of ``run`` whose template's code is not what ``workflow`` (the cells
    as they are now) compiles to: a retry would run their old code."""
    import os

    from .. import api

    fresh = _step_code(api.compile_workflow(workflow, base_dir=os.getcwd()))
    old = _step_code(run.workflow)
    tasks = (entry_template(run.workflow).get("dag") or {}).get("tasks") or []
    template_of = {t["name"]: t.get("template") for t in tasks}
    failed = [task for task, phase in run.tasks().items() if phase in FAILED]
    return [t for t in failed
            if template_of.get(t) in old and old[template_of[t]] != fresh.get(template_of[t])]


def retry_note(edited: list[str]) -> str:
    """What a retry of a run whose failed tasks' cells were edited says about its code."""
    if not edited:
        return ""
    names = ", ".join(edited)
    return (f"retry runs the code the run started with; the cells of {names} changed since: "
            f"to run them as they are now, rerun from {edited[0]} (select it, then "
            "↻ Rerun from selected, or %nbflow rerun RUN --from TASK)")
