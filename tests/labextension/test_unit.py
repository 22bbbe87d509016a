"""The TypeScript side's unit tests (jest, in labextension/), run as part of the test suite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

LABEXTENSION = Path(__file__).resolve().parent.parent.parent / "labextension"


def test_typescript_unit_tests_pass() -> None:
    # the environment's own, whether or not it is activated
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    jlpm = shutil.which("jlpm", path=path)
    assert jlpm, "jlpm (from jupyter-builder, a dependency of jupyterlab) is not on the PATH"
    assert (LABEXTENSION / "node_modules" / ".bin" / "jest").exists(), (
        "labextension/node_modules is missing: `pip install -e .` installs it (jlpm install)"
    )
    proc = subprocess.run(
        [jlpm, "jest", "--ci", "--colors=false"], cwd=LABEXTENSION, capture_output=True,
        text=True, timeout=600, check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    summary = re.search(r"Tests:\s+(\d+) passed, (\d+) total", output)
    assert summary is not None, output[-3000:]
    assert summary.group(1) == summary.group(2) and int(summary.group(2)) >= 40, summary.group(0)
