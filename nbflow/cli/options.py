"""Options that several ``nbflow`` commands take, defined once."""

from __future__ import annotations

import argparse

__all__ = ["add_source", "add_no_cache", "add_output"]


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
