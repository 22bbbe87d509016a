"""Ending a process tree (nbflow._linux.kill_tree), in a process of its own."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, subprocess, time
from nbflow._linux import become_subreaper, kill_tree
become_subreaper()
print(kill_tree(os.getpid(), include_self=False))  # no child yet: nothing to end
done = subprocess.Popen(["true"]); done.wait()
print(kill_tree(os.getpid(), include_self=False))  # a child that ended is no descendant
subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
time.sleep(0.5)
print(kill_tree(os.getpid(), include_self=False))  # the shell and its sleeps
print(kill_tree(os.getpid(), include_self=False))
subprocess.Popen(["sleep", "60"])
time.sleep(0.5)
print(kill_tree(os.getpid(), include_self=False))  # its zombie is no descendant to kill again
"""


def test_kill_tree_ends_descendants_and_skips_a_process_without_children() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[:2] == ["0", "0"]
    assert int(out[2]) >= 2  # sh and at least its foreground sleep (the other may be sh's exec)
    assert out[3] == "0"
    assert 0 < int(out[4]) < 20  # not signalled round after round until the rounds run out
