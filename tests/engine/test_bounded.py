"""Bounded by design: capped step output, parameters of any size, cache hits without copies."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook

pytestmark = pytest.mark.kernel

LOUD = [
    "%%template loud\nimport sys, subprocess\n"
    "line = 'x' * 1023 + '\\n'\n"
    "for _ in range(8 * 1024):\n    sys.stdout.write(line)\n"  # 8 MiB from Python
    "subprocess.run(['head', '-c', str(2 * 2**20), '/dev/zero'])\n"  # 2 MiB from a child
    "print('the end')\n"
    "raise RuntimeError('boom')",
    "%%workflow loud\nloud",
]


def test_step_output_is_capped_in_the_log_and_the_notebook(
    make_notebook: Any, nbflow_home: Path, both_engines: str
) -> None:
    path = make_notebook(LOUD)
    limit = 2**20
    cfg = load_config(cache=False, max_output_bytes=limit)
    r = api.run_workflow(read_notebook(path).workflow(), config=cfg, workdir=path.parent)
    (pod,) = r.pods("loud")
    assert pod["phase"] == "Failed" and "RuntimeError: boom" in pod["message"]
    log = r.logs("loud")
    assert len(log.encode()) < limit + 256 * 1024  # the cap, and the runner's own lines
    assert "of output cut here: a step keeps the first 1.0 MiB" in log
    nb = json.loads(Path(r.notebook("loud")).read_text())
    streams = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "stream"]
    kept = sum(len("".join(o["text"]).encode()) for o in streams)
    assert kept < limit + 1024
    (marker,) = [o for o in streams if "of output cut here" in "".join(o["text"])]
    cut = re.search(r"\[nbflow: ([0-9.]+) MiB of output cut here", "".join(marker["text"]))
    # 8 MiB printed, 2 MiB more from a subprocess (which the kernel may not forward), 1 kept
    assert cut and 6.9 <= float(cut.group(1)) <= 9.1, marker
    assert r.error("loud")["ename"] == "RuntimeError"  # the error itself is never cut


def test_the_engine_memory_does_not_grow_with_a_step_output(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path
) -> None:
    """The engine's peak memory with a step printing 200 MiB, against one printing nothing."""
    quiet = make_notebook(["%%template loud\nraise RuntimeError('boom')", "%%workflow loud\nloud"],
                          name="quiet.ipynb")
    loud = make_notebook(
        ["%%template loud\nimport sys\nline = 'x' * 1023 + '\\n'\n"
         "for _ in range(200 * 1024):\n    sys.stdout.write(line)\nraise RuntimeError('boom')",
         "%%workflow loud\nloud"],
        name="loud.ipynb",
    )
    code = (
        "import resource, sys\nfrom nbflow import api\nfrom nbflow.config import load_config\n"
        "from nbflow.notebook.extract import read_notebook\n"
        "r = api.run_workflow(read_notebook(sys.argv[1]).workflow(), "
        "config=load_config(cache=False))\n"
        "r.report(), r.logs('loud')\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    peaks = {}
    for name, nb in (("quiet", quiet), ("loud", loud)):
        out = subprocess.run([sys.executable, "-c", code, str(nb)], capture_output=True,
                             text=True, check=True, env=os.environ)
        peaks[name] = int(out.stdout.split()[-1]) / 1024  # MiB
    assert peaks["loud"] - peaks["quiet"] < 40, peaks


def test_a_large_parameter_reaches_the_step_on_both_engines(
    make_notebook: Any, nbflow_home: Path, both_engines: str
) -> None:
    path = make_notebook(
        ["%%template a --param s='x' --outputs n,tail\nn = len(s)\ntail = s[-3:]",
         "%%workflow p\na"]
    )
    value = "y" * 300_000 + "end"  # more than one command-line argument may hold (128 KiB)
    r = api.run_workflow(read_notebook(path).workflow(), parameters={"s": value},
                         config=load_config(cache=False), workdir=path.parent)
    assert r.phase == "Succeeded", r.summary()
    assert r.outputs("a") == {"n": 300_003, "tail": "end"}


def test_a_cache_hit_hard_links_its_artifacts_instead_of_copying(
    make_notebook: Any, nbflow_home: Path
) -> None:
    path = make_notebook(["%%template a --outputs blob\nimport os\nblob = os.urandom(2**20)",
                          "%%workflow c\na"])
    first = api.run_workflow(read_notebook(path).workflow(), workdir=path.parent)
    second = api.run_workflow(read_notebook(path).workflow(), workdir=path.parent)
    (pod,) = second.pods("a")
    assert pod["memoizationStatus"]["hit"]
    old = nbflow_home / "artifacts" / "c" / first.id / "a" / "blob" / "data.pkl"
    new = nbflow_home / "artifacts" / "c" / second.id / "a" / "blob" / "data.pkl"
    assert os.stat(old).st_ino == os.stat(new).st_ino and os.stat(new).st_nlink == 2
    assert second.outputs("a") == first.outputs("a")
