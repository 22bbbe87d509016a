"""``python -m nbflow.notify``: the exit handler of a cluster run (see :mod:`.exit`)."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    """Send the notifications of a finished workflow; always 0, so that a failed notification
    does not turn a succeeded workflow into a failed one (an exit handler's failure would)."""
    from .config import NotifyConfig
    from .message import outcome_of_failures
    from .send import send

    p = argparse.ArgumentParser(prog="python -m nbflow.notify")
    for name in ("--workflow", "--run", "--status", "--notify"):
        p.add_argument(name, required=True)
    p.add_argument("--failures", default="[]")
    p.add_argument("--smtp-host", default="localhost")
    p.add_argument("--smtp-port", type=int, default=587)
    p.add_argument("--sender", default="nbflow@localhost")
    p.add_argument("--no-starttls", action="store_true")
    p.add_argument("--run-url", default="")
    p.add_argument("--notebooks", default="")
    args = p.parse_args(argv)
    cfg = NotifyConfig(smtp_host=args.smtp_host, smtp_port=args.smtp_port, sender=args.sender,
                       smtp_starttls=not args.no_starttls, run_url=args.run_url)
    outcome = outcome_of_failures(args.workflow, args.run, args.status, args.failures,
                                  notebooks=args.notebooks)
    for result in send(outcome, json.loads(args.notify), cfg):
        state = "sent" if result["ok"] else f"not sent: {result['error']}"
        print(f"nbflow.notify: {result['target']}: {state}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
