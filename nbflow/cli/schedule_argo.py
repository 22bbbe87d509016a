"""``nbflow schedule ... --backend argo``: the schedule commands on a cluster's CronWorkflows."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["run_argo"]


def run_argo(command: str, args: argparse.Namespace) -> int:
    """Run ``nbflow schedule COMMAND --backend argo``; return the exit code."""
    from ..schedule import cluster
    from .cluster import configs

    cfg, ccfg = configs(args)
    if command == "add":
        from .schedule import options_of

        out = cluster.apply_cron(args.source, args.workflow, args.parameter, options_of(args),
                                 cfg, ccfg)
        verb = "created" if out.pop("created") else "updated"
        print(f"{verb} CronWorkflow {out['name']} in namespace {out['namespace']}",
              file=sys.stderr)
        return 0
    if command == "list":
        rows = cluster.list_crons(cfg, ccfg)
        if args.output == "json":
            print(json.dumps(rows, indent=1))
        for r in rows if args.output != "json" else []:
            state = "suspended" if r["suspended"] else r["phase"].lower()
            print(f"{r['name']:<28} {state:<10} {', '.join(r['schedules']):<20} "
                  f"last {r['lastScheduledTime'] or '-'}  active {len(r['active'])}")
        return 0
    if command in ("show", "history"):
        fn = cluster.get_cron if command == "show" else cluster.cron_history
        print(json.dumps(fn(args.name, cfg, ccfg), indent=1))
        return 0
    if command in ("pause", "resume"):
        cluster.set_suspend(args.name, command == "pause", cfg, ccfg)
        print(f"CronWorkflow {args.name}: {command}d", file=sys.stderr)
        return 0
    if command == "remove":
        cluster.delete_cron(args.name, cfg, ccfg)
        print(f"CronWorkflow {args.name} deleted", file=sys.stderr)
        return 0
    print(cluster.trigger_cron(args.name, cfg, ccfg))  # run-now
    return 0
