"""The ``%nbflow COMMAND ...`` line: its commands and their arguments."""

from __future__ import annotations

import argparse

from ..argo.kinds import KINDS
from ..errors import SpecError
from ..notebook.magic_args import MagicParser, parse_assignments, split_line

__all__ = ["COMMANDS", "nbflow_parser", "parse_nbflow"]

COMMANDS = (
    "run",
    "compile",
    "lint",
    "status",
    "logs",
    "resume",
    "retry",
    "rerun",
    "stop",
    "schedule",
)
SCHEDULE_ACTIONS = ("add", "list", "show", "pause", "resume", "remove", "run-now", "history")


def nbflow_parser(command: str) -> MagicParser:
    """The parser of ``%nbflow COMMAND``'s arguments (the reference docs are made from it)."""
    parser = MagicParser(f"%nbflow {command}")
    if command in ("run", "compile"):
        parser.add_argument("name", metavar="NAME", nargs="?")
        parser.add_argument("-p", "--param", action="append", dest="param")
        if command == "compile":
            parser.add_argument("-o", "--output", dest="output")
            parser.add_argument("--kind", choices=list(KINDS))
            parser.add_argument("--schedule")
            parser.add_argument("--template-ref", dest="template_ref")
        else:
            parser.add_argument("--backend", choices=["local", "argo"], default="local")
            parser.add_argument("--namespace")
            mode = parser.add_mutually_exclusive_group()
            mode.add_argument("--background", action="store_true")
            mode.add_argument("--wait", action="store_true")
            parser.add_argument("--artifact-root", dest="artifact_root")
            parser.add_argument("--no-cache", dest="no_cache", action="store_true")
    elif command in ("resume", "retry", "stop"):
        parser.add_argument("run", metavar="RUN", nargs="?")
        if command in ("resume", "retry"):
            parser.add_argument("--no-cache", dest="no_cache", action="store_true")
        if command == "resume":
            parser.add_argument("--node", action="append", default=[], dest="nodes")
        if command == "stop":
            parser.add_argument("--terminate", action="store_true")
    elif command == "rerun":
        parser.add_argument("run", metavar="RUN")
        parser.add_argument("--from", dest="task", required=True, metavar="TASK")
        parser.add_argument("--workflow", dest="name")
    elif command == "schedule":
        _schedule_arguments(parser)
    elif command == "lint":
        parser.add_argument("name", metavar="NAME", nargs="?")
    elif command == "status":
        parser.add_argument("run", metavar="RUN", nargs="?")
    else:  # logs
        parser.add_argument("run", metavar="RUN")
        parser.add_argument("task", metavar="TASK")
    return parser


def _schedule_arguments(parser: MagicParser) -> None:
    """``%nbflow schedule ACTION [NAME] [options]``: the options of ``nbflow schedule``."""
    parser.add_argument("action", choices=SCHEDULE_ACTIONS, metavar="ACTION")
    parser.add_argument("name", metavar="NAME", nargs="?")
    parser.add_argument("--notebook", help="notebook file to schedule (default: this one)")
    parser.add_argument("-p", "--param", action="append", dest="param", default=[])
    parser.add_argument("--cron", action="append")
    parser.add_argument("--timezone")
    parser.add_argument("--concurrency-policy", dest="concurrency_policy",
                        choices=["Allow", "Forbid", "Replace"])
    parser.add_argument("--starting-deadline", dest="starting_deadline")
    parser.add_argument("--history")
    parser.add_argument("--suspend", action="store_true")
    parser.add_argument("--schedule-name", dest="schedule_name")
    code = parser.add_mutually_exclusive_group()
    code.add_argument("--follow", dest="code", action="store_const", const="follow")
    code.add_argument("--snapshot", dest="code", action="store_const", const="snapshot")
    parser.add_argument("--notify", action="append")
    parser.add_argument("--notify-on", dest="notify_on")
    parser.add_argument("--notify-attach", dest="notify_attach", action="store_true")
    parser.add_argument("--replace", action="store_true")
    parser.add_argument("--backend", choices=["local", "argo"], default="local")


def parse_nbflow(line: str) -> tuple[str, argparse.Namespace]:
    """Parse a ``%nbflow COMMAND ...`` line; return the command and its arguments.

    Commands: ``run [NAME] [-p k=v ...] [--background|--wait] [--artifact-root URL]
    [--no-cache]``, ``compile [NAME] [-o FILE] [-p k=v ...]``, ``lint [NAME]``,
    ``status [RUN]``, ``logs RUN TASK``, ``resume [RUN] [--node NAME] [--no-cache]``,
    ``retry [RUN] [--no-cache]``,
    ``rerun RUN --from TASK [--workflow NAME]``, ``stop [RUN] [--terminate]``,
    ``schedule add|list|show|pause|resume|remove|run-now|history ...``. For ``run``
    and ``compile`` the namespace's ``parameters`` holds the ``-p`` values as Python values.
    """
    tokens = split_line(line)
    if not tokens:
        raise SpecError(f"%nbflow: missing command (one of {', '.join(COMMANDS)})")
    command = tokens[0]
    if command not in COMMANDS:
        raise SpecError(
            f"%nbflow: unknown command {command!r} (one of {', '.join(COMMANDS)})"
        )
    ns = nbflow_parser(command).parse(tokens[1:])
    if command in ("run", "compile"):
        ns.parameters = parse_assignments(ns.param, "-p")
        del ns.param
    return command, ns
