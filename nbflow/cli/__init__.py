"""The ``nbflow`` command: run, compile, lint, status and logs from a terminal, without a kernel."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import NbflowError
from .housekeeping import add_delete, add_housekeeping
from .options import (
    add_globals,
    add_globals_everywhere,
    add_host_options,
    add_no_cache,
    add_output,
    add_source,
    host_overrides,
)

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nbflow", description="Run notebook pipelines locally or on Argo Workflows.")
    add_globals(p)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run", help="run a notebook's workflow (or a manifest) on the local engine"
    )
    add_source(run)
    run.add_argument(
        "--engine",
        choices=["papermill", "fast"],
        help="fast (default): each step a fresh IPython shell in a process forked from a "
        "pre-warmed server, papermill where that is not safe; papermill: each step a papermill "
        "run in a fresh kernel (the reference)",
    )
    run.add_argument(
        "--host-exec",
        action="store_true",
        help="run hand-written container/script templates on this machine (the image is "
        "ignored; each step gets a private /tmp and private folders for its paths)",
    )
    add_host_options(run)
    add_no_cache(run, "run")
    add_output(run, "the final Workflow object (spec and status)")
    comp = sub.add_parser(
        "compile", help="write the Argo Workflow manifest of a notebook's workflow"
    )
    add_source(comp)
    comp.add_argument("-o", "--output-file", help="file to write (default: stdout)")
    comp.add_argument("--format", choices=["yaml", "json"], default="yaml")
    from .cluster import add_commands, add_kind_arguments

    add_kind_arguments(comp)
    lint = sub.add_parser("lint", help="check a notebook's pipeline without running it")
    lint.add_argument("source")
    lint.add_argument("-w", "--workflow")
    status = sub.add_parser("status", help="show a run (default: the most recent)")
    status.add_argument("run", nargs="?")
    status.add_argument("-o", "--output", choices=["json", "yaml"])
    logs = sub.add_parser("logs", help="print the logs of a task of a run")
    logs.add_argument("run", help="run name, or '-' for the most recent")
    logs.add_argument("task")
    listing = sub.add_parser("list", help="list runs, newest first")
    listing.add_argument("-w", "--workflow", help="only the runs of this workflow")
    listing.add_argument("--phase", help="only runs in this phase (several: Failed,Error)")
    listing.add_argument("-n", "--limit", type=int, help="at most this many runs")
    add_delete(sub)
    metrics = sub.add_parser(
        "metrics", help="print a run's custom metrics (metrics.prometheus) for Prometheus"
    )
    metrics.add_argument("run", nargs="?", help="run name (default: the most recent run)")
    for name, text in (
        ("resume", "resume suspended nodes, or go on with a run that crashed or was stopped"),
        ("retry", "run the failed tasks of a run again, and what depends on them"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("run", nargs="?", help="run name (default: the most recent run)")
        add_output(sp, "the final Workflow object")
        add_no_cache(sp, "run")
        if name == "resume":
            sp.add_argument(
                "--node",
                action="append",
                default=[],
                metavar="NAME",
                help="resume only this suspended node (repeatable)",
            )
    rerun = sub.add_parser(
        "rerun",
        help="rerun a task and its descendants with the notebook's "
        "current code, reusing every other result",
    )
    rerun.add_argument("run", help="run name, or '-' for the most recent")
    rerun.add_argument("--from", dest="task", required=True, metavar="TASK")
    rerun.add_argument("-o", "--output", choices=["json", "yaml"])
    stop = sub.add_parser("stop", help="stop a running run (exit handlers still run)")
    stop.add_argument("run", nargs="?")
    stop.add_argument("--terminate", action="store_true", help="also skip the exit handlers")
    _COMMANDS.update(add_commands(sub))
    from .schedule import add_commands as add_schedule_commands

    _COMMANDS.update(add_schedule_commands(sub))
    add_housekeeping(sub)
    add_globals_everywhere(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nbflow`` console script."""
    args = _parser().parse_args(argv)
    if getattr(args, "run", None) == "-" and args.command != "delete":
        args.run = None  # '-': the most recent run, for every command but a destructive one
    try:
        handler = getattr(args, "handler", None) or _COMMANDS[args.command]
        return int(handler(args))
    except NbflowError as exc:
        print(f"nbflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nbflow: interrupted", file=sys.stderr)
        return 130


def _config(args: argparse.Namespace) -> Any:
    from ..config import load_config

    return load_config(
        home=args.home,
        artifact_root=args.artifact_root,
        cache=False if getattr(args, "no_cache", False) else None,
        engine=getattr(args, "engine", None),
        **host_overrides(args),
    )


def _load_source(args: argparse.Namespace) -> tuple[Any, dict[str, Any], Path]:
    """Return (Workflow model or manifest, leftover parameters, base folder)."""
    from .. import api

    source, params, base, args.origin = api.load_source(args.source, args.workflow, args.parameter)
    return source, params, base


def _run(args: argparse.Namespace) -> int:
    from .. import api

    source, params, base = _load_source(args)
    cfg = _config(args)
    run = api.run_workflow(
        source,
        parameters=params,
        config=cfg,
        workdir=base,
        base_dir=base,
        progress=sys.stderr,
        wait=False,
        origin=getattr(args, "origin", None),
        host_exec=args.host_exec,
        load=[*args.load, args.source] if args.origin is None else args.load,
    )
    return _follow(run, args)


def _follow(run: Any, args: argparse.Namespace) -> int:
    """Wait for a run in the foreground: Ctrl-C (or SIGTERM) stops it, twice terminates it."""
    import signal

    interrupts = []

    def on_signal(signum: int, frame: Any) -> None:
        interrupts.append(signum)
        strategy = "Stop" if len(interrupts) == 1 else "Terminate"
        print(
            f"nbflow: {strategy.lower()}ping run {run.id}"
            + (" (exit handlers run; Ctrl-C again to terminate)" if strategy == "Stop" else ""),
            file=sys.stderr,
        )
        run.stop(strategy)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while run.live:
            run.wait(timeout=0.5)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    _report(run)
    if interrupts:
        print(
            f"run {run.id} was stopped: nbflow resume {run.id} goes on from where it stopped",
            file=sys.stderr,
        )
    if getattr(args, "output", None):
        from .. import api

        print(api.dump_manifest(run.workflow, args.output), end="")
    return EXIT_OK if run.phase == "Succeeded" else EXIT_FAILED


def _report(run: Any) -> None:
    print(run.report(), file=sys.stderr)
    print(
        f"run {run.id}: {run.phase} (nbflow status {run.id}; nbflow logs {run.id} TASK)",
        file=sys.stderr,
    )


def _resume(args: argparse.Namespace) -> int:
    from .. import api

    run = api.resume_run(
        args.run, nodes=args.node or None, config=_config(args), progress=sys.stderr, wait=False
    )
    if not run.live:  # another process runs it: it was asked to resume
        print(
            f"asked run {run.id} to resume {', '.join(args.node) or 'its suspended nodes'}",
            file=sys.stderr,
        )
        return EXIT_OK
    return _follow(run, args)


def _retry(args: argparse.Namespace) -> int:
    from .. import api

    run = api.retry_run(args.run, config=_config(args), progress=sys.stderr, wait=False)
    return _follow(run, args)


def _rerun(args: argparse.Namespace) -> int:
    from .. import api

    run = api.rerun_from(args.run, args.task, config=_config(args), progress=sys.stderr, wait=False)
    return _follow(run, args)


def _stop(args: argparse.Namespace) -> int:
    from .. import api

    name = api.stop_run(args.run, terminate=args.terminate, config=_config(args))
    print(f"asked run {name} to {'terminate' if args.terminate else 'stop'}", file=sys.stderr)
    return EXIT_OK


def _compile(args: argparse.Namespace) -> int:
    from .. import api
    from ..model import Workflow

    source, params, base = _load_source(args)
    if not isinstance(source, Workflow):
        raise NbflowError(f"{args.source} is already a manifest")
    from .cluster import convert_kind

    manifest = api.compile_workflow(source, config=_config(args), base_dir=base)
    text = api.dump_manifest(convert_kind(manifest, args, schedule=source.schedule), args.format)
    if args.output_file:
        Path(args.output_file).write_text(text, encoding="utf-8")
        print(f"wrote {args.output_file}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _lint(args: argparse.Namespace) -> int:
    from ..lint import lint
    from ..notebook.extract import read_notebook

    problems = lint(read_notebook(Path(args.source)), args.workflow)
    for problem in problems:
        where = f"{problem.where}: " if problem.where else ""
        print(f"{problem.level}: {where}{problem.message}", file=sys.stderr)
    if not problems:
        print("no problems found", file=sys.stderr)
    return EXIT_FAILED if any(p.level == "error" for p in problems) else EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from .. import api

    run = api.get_run(args.run, config=_config(args))
    if args.output:
        print(api.dump_manifest(run.workflow, args.output), end="")
    else:
        print(run.summary())
    return EXIT_OK


def _logs(args: argparse.Namespace) -> int:
    from .. import api

    print(
        api.task_logs(args.run, args.task, config=_config(args)),
        end="",
    )
    return EXIT_OK


def _metrics(args: argparse.Namespace) -> int:
    from .. import api

    print(api.run_metrics(args.run, config=_config(args)), end="")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from ..history import list_summaries

    unreadable: dict[str, str] = {}
    runs, _ = list_summaries(
        config=_config(args), workflow=args.workflow, phase=args.phase, limit=args.limit,
        unreadable=unreadable,
    )
    for problem in unreadable.values():  # a record that cannot be read: one line, the rest goes on
        print(f"nbflow: warning: {problem}", file=sys.stderr)
    for r in runs:
        print(
            f"{r['id']:<36} {r['phase']:<10} {r['progress']:>7}  {r['startedAt'] or '':<20}  "
            f"{r['notebook'] or ''}"
        )
    return EXIT_OK


_COMMANDS = {
    "resume": _resume,
    "retry": _retry,
    "rerun": _rerun,
    "stop": _stop,
    "run": _run,
    "compile": _compile,
    "lint": _lint,
    "status": _status,
    "logs": _logs,
    "list": _list,
    "metrics": _metrics,
}

