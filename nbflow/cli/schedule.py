"""``nbflow schedule add|list|show|pause|resume|remove|run-now|history|describe`` and
``nbflow scheduler``: thin argparse front ends of :mod:`nbflow.schedule.actions` and
:mod:`nbflow.schedule.scheduler`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "add_commands",
    "schedule_options",
    "render_list",
    "render_show",
    "render_history",
    "code_line",
]

EXIT_OK = 0
Handler = Callable[[argparse.Namespace], int]
_ACTIONS = ("add", "list", "show", "pause", "resume", "remove", "run-now", "history", "describe")


def add_commands(sub: Any) -> dict[str, Handler]:
    """Add ``schedule`` and ``scheduler`` to the ``nbflow`` sub-commands; return the handlers."""
    from .cluster import cluster_arguments, pod_arguments

    sched = sub.add_parser("schedule", help="run a notebook's workflow on a schedule (cron)")
    ssub = sched.add_subparsers(dest="schedule_command", required=True)
    add = ssub.add_parser("add", help="schedule a notebook's workflow (or a manifest)")
    add.add_argument("source", help="a notebook (.ipynb) or a Workflow manifest (.yaml/.json)")
    add.add_argument("-w", "--workflow", help="which %%%%workflow of the notebook")
    add.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
    add.add_argument("--cron", action="append", metavar="CRON",
                     help="cron schedule, repeatable (default: %%%%workflow --schedule)")
    add.add_argument("--timezone", help="IANA time zone of the schedule, e.g. Europe/Paris")
    add.add_argument("--concurrency-policy", choices=["Allow", "Forbid", "Replace"])
    add.add_argument("--starting-deadline", type=int, metavar="SECONDS",
                     help="how late a tick missed while the scheduler was down may still run")
    add.add_argument("--history", metavar="N/M",
                     help="keep the last N succeeded and M failed runs (default 3/1)")
    add.add_argument("--suspend", action="store_true", help="create it paused")
    add.add_argument("--name", help="schedule name (default: the workflow's)")
    code = add.add_mutually_exclusive_group()
    code.add_argument("--follow", dest="code", action="store_const", const="follow",
                      help="run the notebook as it is at each tick (default)")
    code.add_argument("--snapshot", dest="code", action="store_const", const="snapshot",
                      help="run the workflow as compiled now, whatever the notebook becomes")
    _notify_arguments(add)
    add.add_argument("--replace", action="store_true", help="replace a schedule of that name")
    _backend(add)
    cluster_arguments(add)
    pod_arguments(add)
    for name in ("list", "show", "pause", "resume", "remove", "run-now", "history"):
        sp = ssub.add_parser(name, help=_HELP[name])
        if name != "list":
            sp.add_argument("name", help="schedule name")
        if name in ("list", "show", "history"):
            sp.add_argument("-o", "--output", choices=["json"], help="print JSON")
        _backend(sp)
        cluster_arguments(sp)
    desc = ssub.add_parser("describe", help="a cron expression in words, and its next times")
    desc.add_argument("cron", nargs="+")
    desc.add_argument("--timezone")
    desc.add_argument("-n", "--count", type=int, default=5)
    scheduler = sub.add_parser(
        "scheduler", help="fire this home's schedules (a foreground process, e.g. for systemd)"
    )
    scheduler.add_argument("-v", "--verbose", action="store_true", help="log every decision")
    return {"schedule": _schedule, "scheduler": _scheduler}


_HELP = {
    "list": "list schedules",
    "show": "show a schedule: its CronWorkflow, status and next times",
    "pause": "pause a schedule (suspend)",
    "resume": "resume a paused schedule",
    "remove": "delete a schedule (its runs stay)",
    "run-now": "start a run of a schedule now",
    "history": "the runs a schedule fired",
}


def _notify_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--notify", action="append", metavar="TARGET",
                    help="email:ADDR[,ADDR], webhook:NAME or slack:NAME (repeatable)")
    sp.add_argument("--notify-on", choices=["failure", "success", "always"],
                    help="which runs to notify (default: failure)")
    sp.add_argument("--notify-attach", action="store_true",
                    help="attach the failed step's executed notebook as HTML (email)")


def _backend(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--backend", choices=["local", "argo"], default="local",
                    help="local: nbflow's scheduler (default); argo: a CronWorkflow on Kubernetes")


def _history(text: str | None) -> tuple[int | None, int | None]:
    from ..errors import NbflowError

    if text is None:
        return (None, None)
    ok, _, failed = text.partition("/")
    try:
        out = (int(ok), int(failed) if failed else None)
    except ValueError:
        raise NbflowError(f"--history {text!r}: expected N/M, e.g. 3/1") from None
    if any(v is not None and v < 0 for v in out):
        raise NbflowError(f"--history {text!r}: limits cannot be negative")
    return out


def options_of(args: argparse.Namespace) -> Any:
    """The :class:`~.source.ScheduleOptions` of ``schedule add``'s arguments."""
    return schedule_options(
        cron=args.cron, timezone=args.timezone, concurrency_policy=args.concurrency_policy,
        starting_deadline=args.starting_deadline, history=args.history, suspend=args.suspend,
        code=args.code, name=args.name, notify=args.notify, notify_on=args.notify_on,
        notify_attach=args.notify_attach,
    )


def schedule_options(**given: Any) -> Any:
    """:class:`~.source.ScheduleOptions` from option values as ``schedule add`` (or
    ``%nbflow schedule add``) reads them: texts, lists, flags."""
    from ..errors import NbflowError
    from ..notify.spec import parse_notify
    from ..schedule.source import ScheduleOptions

    deadline = given.get("starting_deadline")
    try:
        deadline = None if deadline is None else int(deadline)
    except ValueError:
        raise NbflowError(f"--starting-deadline {deadline!r}: expected seconds") from None
    return ScheduleOptions(
        schedules=tuple(given.get("cron") or ()),
        timezone=given.get("timezone"),
        concurrency_policy=given.get("concurrency_policy"),
        starting_deadline_s=deadline,
        history=_history(given.get("history")),
        suspend=bool(given.get("suspend")),
        code=given.get("code") or "follow",
        name=given.get("name"),
        notify=parse_notify(given.get("notify"), given.get("notify_on"),
                            bool(given.get("notify_attach"))),
    )


def _schedule(args: argparse.Namespace) -> int:
    command = args.schedule_command
    if command == "describe":
        from ..schedule.actions import describe_cron

        out = describe_cron(args.cron, args.timezone, args.count)
        print(out["text"])
        for t in out["next"]:
            print(f"  {t}")
        return EXIT_OK
    if getattr(args, "backend", "local") == "argo":
        from .schedule_argo import run_argo

        return run_argo(command, args)
    from ..config import load_config

    return _LOCAL[command](args, load_config(home=args.home, artifact_root=args.artifact_root))


def _add(args: argparse.Namespace, cfg: Any) -> int:
    from ..schedule.actions import add_schedule

    out = add_schedule(args.source, workflow=args.workflow, parameters=args.parameter,
                       options=options_of(args), replace=args.replace, config=cfg)
    print(f"schedule {out['name']}: {out['description']}; next run {out['nextScheduledTime']}",
          file=sys.stderr)
    print(f"  code: {code_line(out)}", file=sys.stderr)
    print("  runs when a scheduler is running: nbflow scheduler (or a Jupyter server with "
          "nbflow)", file=sys.stderr)
    return EXIT_OK


def code_line(out: dict[str, Any]) -> str:
    """Which code a schedule runs: following the notebook file, or a snapshot."""
    if out["code"] == "follow":
        return f"follows {out['notebook']} (compiled at each tick)"
    if out.get("notebook"):
        return f"snapshot of {out['notebook']} (sha256 {out['sha256'][:12]}) taken when added"
    return f"the manifest as added (sha256 {out['sha256'][:12]})"


def render_list(rows: list[dict[str, Any]]) -> str:
    """Local schedules as ``nbflow schedule list`` prints them."""
    lines = []
    for r in rows:
        state = "paused" if r["suspended"] else r["phase"].lower()
        lines.append(f"{r['name']:<28} {state:<8} {', '.join(r['schedules']):<20} "
                     f"{r['timezone']:<16} {r['code']:<9} next {r['nextScheduledTime'] or '-'}  "
                     f"last {r['lastScheduledTime'] or '-'}  active {len(r['active'])}")
    return "\n".join(lines) if lines else "no schedules"


def _list(args: argparse.Namespace, cfg: Any) -> int:
    from ..schedule.actions import list_schedules

    rows = list_schedules(config=cfg)
    print(json.dumps(rows, indent=1) if args.output == "json" else render_list(rows))
    return EXIT_OK


def render_show(out: dict[str, Any]) -> str:
    """A schedule as ``nbflow schedule show`` prints it: a summary, then the CronWorkflow."""
    from ..argo.manifest import dump

    lines = [f"schedule {out['name']}: {out['description']}"
             + (" (paused)" if out["suspended"] else ""), f"  code: {code_line(out)}",
             f"  concurrencyPolicy {out['concurrencyPolicy']}, startingDeadlineSeconds "
             f"{out['startingDeadlineSeconds'] or 0}, history {out['history'][0]}/"
             f"{out['history'][1]}"]
    if out["notify"]:
        targets = [t.get("name") or ",".join(t.get("to", [])) for t in out["notify"]["targets"]]
        lines.append(f"  notify on {out['notify']['on']}: {', '.join(targets)}")
    lines.append(f"  last {out['lastScheduledTime'] or '-'}; active "
                 f"{', '.join(out['active']) or '-'}; succeeded {out['succeeded']}, "
                 f"failed {out['failed']}")
    lines += [f"  next {t}" for t in out["next"]]
    cron = {k: v for k, v in out["cronWorkflow"].items() if k != "status"}
    spec = dict(cron["spec"])
    spec["workflowSpec"] = {"...": f"{len(spec['workflowSpec'].get('templates', []))} templates"}
    lines.append(dump({**cron, "spec": spec, "status": out["cronWorkflow"].get("status")}))
    return "\n".join(lines)


def _show(args: argparse.Namespace, cfg: Any) -> int:
    from ..schedule.actions import get_schedule

    out = get_schedule(args.name, config=cfg)
    print(json.dumps(out, indent=1) if args.output == "json" else render_show(out), end="\n")
    return EXIT_OK


def _simple(action: str) -> Callable[[argparse.Namespace, Any], int]:
    def run(args: argparse.Namespace, cfg: Any) -> int:
        from ..schedule import actions

        if action == "run-now":
            print(actions.run_now(args.name, config=cfg))
            return EXIT_OK
        fn = {"pause": actions.pause_schedule, "resume": actions.resume_schedule,
              "remove": actions.remove_schedule}[action]
        fn(args.name, config=cfg)
        print(f"schedule {args.name}: {action}d" if action != "remove"
              else f"schedule {args.name} removed", file=sys.stderr)
        return EXIT_OK

    return run


def render_history(rows: list[dict[str, Any]]) -> str:
    """A schedule's runs as ``nbflow schedule history`` prints them."""
    return "\n".join(f"{r['run']:<36} {r['phase']:<10} scheduled {r['scheduledTime']}  "
                     f"finished {r['finishedAt'] or '-'}" for r in rows) or "no runs yet"


def _history_cmd(args: argparse.Namespace, cfg: Any) -> int:
    from ..schedule.actions import schedule_history

    rows = schedule_history(args.name, config=cfg)
    print(json.dumps(rows, indent=1) if args.output == "json" else render_history(rows))
    return EXIT_OK


_LOCAL: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "add": _add,
    "list": _list,
    "show": _show,
    "pause": _simple("pause"),
    "resume": _simple("resume"),
    "remove": _simple("remove"),
    "run-now": _simple("run-now"),
    "history": _history_cmd,
}


def _scheduler(args: argparse.Namespace) -> int:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C; runs it started go on."""
    import logging
    import signal

    from ..config import load_config
    from ..schedule.scheduler import Scheduler

    cfg = load_config(home=args.home, artifact_root=args.artifact_root)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("nbflow.scheduler").setLevel(logging.INFO)
    scheduler = Scheduler(cfg.home)

    def on_signal(signum: int, frame: Any) -> None:
        scheduler.stop(timeout_s=0)

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    scheduler.serve_forever()
    return EXIT_OK
