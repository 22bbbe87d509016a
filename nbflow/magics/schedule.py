"""``%nbflow schedule ACTION ...``: the actions of ``nbflow schedule`` from a notebook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from IPython.core.error import UsageError

__all__ = ["schedule_command"]


def schedule_command(args: Any, notebook: str | None, snapshot: Callable[[], Any]) -> None:
    """Carry out one ``%nbflow schedule`` action and print its outcome.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``%nbflow schedule`` line.
    notebook : str or None
        The notebook file this kernel runs (``__session__``), when the frontend said.
    snapshot : callable
        The workflow as the cells define it now: what ``add`` schedules when no notebook file
        is known (``--notebook`` gives one; ``--follow``, the default, compiles the file at
        each tick).
    """
    from ..cli.schedule import render_history, render_list, render_show
    from ..schedule import actions

    if args.action == "list":
        print(render_list(actions.list_schedules()))
        return
    if args.action == "add":
        _add(args, args.notebook or notebook, snapshot)
        return
    if not args.name:
        raise UsageError(f"%nbflow schedule {args.action} NAME: which schedule?")
    if args.action == "show":
        print(render_show(actions.get_schedule(args.name)))
    elif args.action == "history":
        print(render_history(actions.schedule_history(args.name)))
    elif args.action == "run-now":
        print(f"started {actions.run_now(args.name)}")
    else:
        fn = {"pause": actions.pause_schedule, "resume": actions.resume_schedule,
              "remove": actions.remove_schedule}[args.action]
        fn(args.name)
        print(f"schedule {args.name} {args.action}d")


def _add(args: Any, notebook: str | None, snapshot: Callable[[], Any]) -> None:
    from ..cli.schedule import code_line, schedule_options
    from ..schedule.actions import add_schedule

    fields = {k: getattr(args, k) for k in (
        "cron", "timezone", "concurrency_policy", "starting_deadline", "history", "suspend",
        "code", "notify", "notify_on", "notify_attach")}
    options = schedule_options(name=args.schedule_name, **fields)
    source: Any = notebook
    if notebook is None:
        if args.code == "follow":
            raise UsageError("--follow needs the notebook's file: give --notebook PATH")
        source = snapshot()
        options = replace(options, code="snapshot")
    out = add_schedule(source, workflow=args.name, parameters=args.param, options=options,
                       replace=args.replace, backend=args.backend)
    if out["backend"] == "argo":
        print(f"CronWorkflow {out['name']} applied in namespace {out['namespace']}")
        return
    print(f"schedule {out['name']}: {out['description']}; next run "
          f"{out['nextScheduledTime']}\n  code: {code_line(out)}")
