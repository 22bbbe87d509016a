"""Options that several ``nbflow`` commands take, defined once."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_source", "add_no_cache", "add_output", "add_globals", "add_globals_everywhere"]


def add_globals(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """``--home DIR`` and ``--artifact-root URL``: before the command, or after it (``sub``).

    After a command they default to "not given", so that they never hide the same option
    given before the command.
    """
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument(
        "--home",
        help="folder of nbflow's run records (default: $NBFLOW_HOME or ~/.local/share/nbflow)",
        **extra,
    )
    parser.add_argument(
        "--artifact-root",
        help="fsspec URL of the artifact store (default: $NBFLOW_ARTIFACT_ROOT "
        "or file://<home>/artifacts)",
        **extra,
    )


def add_globals_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept the global options after every (sub-)command of ``parser``, as the README
    writes them (``nbflow run nb.ipynb --artifact-root s3://...``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                if not any(o in sub._option_string_actions for o in ("--home", "--artifact-root")):
                    add_globals(sub, sub=True)
                add_globals_everywhere(sub)


def add_source(parser: argparse.ArgumentParser) -> None:
    """``SOURCE [-w NAME] [-p NAME=VALUE ...]``: a notebook's workflow, or a manifest."""
    parser.add_argument("source", help="a notebook (.ipynb) or a Workflow manifest (.yaml/.json)")
    parser.add_argument(
        "-w", "--workflow", help="which %%%%workflow of the notebook (default: the only one)"
    )
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a workflow parameter; VALUE is read as a Python literal when it is one",
    )


def add_no_cache(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--no-cache``: ``verb`` every step (run, submit), reusing no earlier result."""
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help=f"{verb} every step, even those whose earlier result could be reused",
    )


def add_output(parser: argparse.ArgumentParser, what: str) -> None:
    """``-o json|yaml``: print ``what`` (a Workflow object) on stdout."""
    parser.add_argument("-o", "--output", choices=["json", "yaml"], help=f"print {what}")
