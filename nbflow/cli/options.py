"""Options that several ``nbflow`` commands take, defined once."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "add_source",
    "add_no_cache",
    "add_output",
    "add_globals",
    "add_globals_everywhere",
    "add_host_options",
    "host_overrides",
]


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


def add_host_options(parser: argparse.ArgumentParser) -> None:
    """``--load``, ``--image-command`` and ``--allow-host-path``: what a manifest's
    hand-written templates may use on this machine."""
    parser.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="PATH",
        help="a YAML/JSON file (several documents allowed) or folder of ConfigMaps, Secrets, "
        "PersistentVolumeClaims, WorkflowTemplates and ClusterWorkflowTemplates the manifest "
        "refers to (repeatable; also c.NbflowConfig.load)",
    )
    parser.add_argument(
        "--image-command",
        action="append",
        default=[],
        metavar="IMAGE=CMD",
        help="with --host-exec, the command line that stands for IMAGE's entrypoint on this "
        "machine, for containers that give no command (repeatable; also "
        "c.NbflowConfig.image_commands)",
    )
    parser.add_argument(
        "--allow-host-path",
        action="store_true",
        default=None,
        help="with --host-exec, let hostPath volumes bind this machine's folders",
    )


def host_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides from the host options given (those a command does not take are left
    out)."""
    from ..errors import NbflowError

    out: dict[str, Any] = {}
    commands = {}
    for text in getattr(args, "image_command", None) or []:
        image, sep, command = text.partition("=")
        if not sep or not image.strip() or not command.strip():
            raise NbflowError(f"--image-command {text!r}: expected IMAGE=COMMAND")
        commands[image.strip()] = command.strip()
    if commands:
        from ..config import load_config

        out["image_commands"] = {**load_config().image_commands, **commands}
    if getattr(args, "allow_host_path", None):
        out["allow_host_path"] = True
    return out
