"""``nbflow gc`` and ``nbflow delete``: remove old runs and their artifacts."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_housekeeping", "add_delete"]


def add_housekeeping(sub: Any) -> None:
    """Add ``gc`` to the ``nbflow`` sub-commands (its handler included)."""
    gc = sub.add_parser(
        "gc",
        help="delete the runs a retention policy does not keep, with their artifacts",
        description="Keep the last N runs of each workflow and/or the runs younger than D days "
        "(and every run still running); delete the others' records and artifacts, except the "
        "artifacts a kept run reads or a cache entry points at.",
    )
    gc.add_argument(
        "--keep-last", type=int, metavar="N", help="runs kept per workflow (c.NbflowConfig."
        "keep_last_runs)"
    )
    gc.add_argument(
        "--keep-days", type=float, metavar="D", help="keep runs younger than D days "
        "(c.NbflowConfig.keep_days)"
    )
    gc.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    gc.set_defaults(handler=_gc)


def add_delete(sub: Any) -> None:
    """Add ``delete`` to the ``nbflow`` sub-commands."""
    delete = sub.add_parser(
        "delete",
        help="delete runs that are not running: their records, logs and artifacts (except "
        "the artifacts other runs or the cache need)",
    )
    delete.add_argument("run", nargs="+", help="run names")
    delete.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    delete.set_defaults(handler=_delete)


def _gc(args: argparse.Namespace) -> int:
    from .. import api
    from . import _config

    done = api.collect_garbage(
        keep_last=args.keep_last, keep_days=args.keep_days, dry_run=args.dry_run,
        config=_config(args),
    )
    return _report(done)


def _delete(args: argparse.Namespace) -> int:
    from .. import api
    from . import _config

    done = api.delete_runs(args.run, dry_run=args.dry_run, config=_config(args))
    if args.dry_run:
        return _report(done)
    for r in done.removed:
        kept = f" (kept {len(r.kept)} artifacts other runs or the cache need)" if r.kept else ""
        print(f"deleted run {r.run}{kept}", file=sys.stderr)
    return 0


def _report(done: Any) -> int:
    from ..budget import size_text

    verb = "would remove" if done.dry_run else "removed"
    for r in done.removed:
        kept = f"; kept {len(r.kept)} artifacts other runs or the cache need" if r.kept else ""
        print(f"{verb} {r.run} ({r.artifacts} artifacts, {size_text(r.bytes)}{kept})")
    print(
        f"{verb} {len(done.removed)} runs, {size_text(done.bytes)}; kept {len(done.kept)}",
        file=sys.stderr,
    )
    return 0
