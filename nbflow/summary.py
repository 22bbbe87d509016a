"""One run's summary, as run lists show it (the CLI's, the Jupyter server's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .vocab import FULFILLED, LABEL_WORKFLOW

__all__ = ["summarize", "workflow_name", "progress", "notebook_path", "Summary"]

Summary = dict[str, Any]


def workflow_name(workflow: dict[str, Any], settings: dict[str, Any]) -> str:
    """The name of the workflow a run ran: its label, the notebook's, else its name's stem."""
    meta = workflow.get("metadata") or {}
    label = (meta.get("labels") or {}).get(LABEL_WORKFLOW)
    if label:
        return str(label)
    if settings.get("workflow"):
        return str(settings["workflow"])
    if meta.get("generateName"):
        return str(meta["generateName"]).rstrip("-")
    return str(meta.get("name", ""))


def progress(workflow: dict[str, Any]) -> tuple[int, int]:
    """``(done, total)`` of the tasks the graph shows: the entry template's tasks or steps,
    plus the exit handler; a task is done once its phase is final."""
    run = workflow["metadata"]["name"]
    from .argo.manifest import entry_template

    spec = workflow.get("spec") or {}
    entry = entry_template(workflow)
    names = [f"{run}.{t['name']}" for t in (entry.get("dag") or {}).get("tasks") or []]
    for i, group in enumerate(entry.get("steps") or []):
        names += [f"{run}[{i}].{s['name']}" for s in group or []]
    if not names:
        names = [run]
    if spec.get("onExit"):
        names.append(f"{run}.onExit")
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    phases = {n.get("name"): n.get("phase") for n in nodes.values()}
    return sum(1 for n in names if phases.get(n) in FULFILLED), len(names)


def summarize(
    workflow: dict[str, Any],
    settings: dict[str, Any],
    *,
    live: bool,
    root: Path | None = None,
) -> Summary:
    """The summary of one run, as the run list shows it.

    Keys: ``id``, ``workflow``, ``phase``, ``message``, ``startedAt``, ``finishedAt``,
    ``duration_s`` (once finished: the time its steps were going on), ``notebook`` (relative
    to ``root`` when inside it, else absolute, or ``None``), ``backend`` (``"local"`` or
    ``"argo"``), ``progress`` (``"3/7"``) and ``live`` (an engine or the cluster is working on
    it now).
    """
    from .engine.nodes import active_seconds, parse_timestamp

    status = workflow.get("status") or {}
    started, finished = status.get("startedAt"), status.get("finishedAt")
    duration = None
    if started and finished:
        # the time it was running, as the widget says: not the idle time before a retry,
        # resume or rerun (the wall clock when its nodes carry no times)
        duration = active_seconds((status.get("nodes") or {}).values()) or (
            (parse_timestamp(finished) - parse_timestamp(started)).total_seconds()
        )
    done, total = progress(workflow)
    return {
        "id": workflow["metadata"]["name"],
        "workflow": workflow_name(workflow, settings),
        "phase": status.get("phase") or "Pending",
        "message": status.get("message") or "",
        "startedAt": started,
        "finishedAt": finished,
        "duration_s": duration,
        "notebook": notebook_path(settings.get("notebook"), root),
        "backend": settings.get("backend") or "local",
        "progress": f"{done}/{total}",
        "live": live,
    }


def notebook_path(path: str | None, root: Path | None) -> str | None:
    """``path`` relative to ``root`` (``/``-separated) when inside it, else as it is."""
    if not path:
        return None
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)
