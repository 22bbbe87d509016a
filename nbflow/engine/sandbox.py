"""Inside a private mount namespace: bind each pod folder over its path, then exec the command.

Run as ``unshare --mount --propagation private python -m nbflow.engine.sandbox --bind SRC DST ...
-- COMMAND ARGS...``. The binds are visible to this process tree only, so parallel steps that
all write ``/tmp/out.txt`` each see their own folder. Nothing goes through a shell.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    """Bind, then replace this process with the command."""
    args = sys.argv[1:] if argv is None else argv
    if "--" not in args:
        print("usage: sandbox --bind SRC DST ... -- COMMAND ARGS...", file=sys.stderr)
        return 2
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="python -m nbflow.engine.sandbox")
    parser.add_argument("--bind", nargs=2, action="append", default=[], metavar=("SRC", "DST"))
    parser.add_argument("--cwd")
    ns = parser.parse_args(args[:split])
    command = args[split + 1 :]
    for src, dst in ns.bind:
        os.makedirs(dst, exist_ok=True) if dst.startswith("/tmp/") else None
        subprocess.run(["mount", "--bind", src, dst], check=True)
    if ns.cwd:
        os.chdir(ns.cwd)
    os.execvp(command[0], command)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
