"""A notebook step's processes end with it, on both engines, even those that left its session."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config


@pytest.mark.kernel
def test_processes_a_step_starts_end_with_it(
    both_engines: str, make_notebook: Any, nbflow_home: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    cells = [
        "%%template spawn --outputs started\n"
        "import subprocess\n"
        f"cmd = 'sleep 2; echo alive > {marker}'\n"
        "for session in (True, False):  # in a session of its own, and in the step's\n"
        "    subprocess.Popen(['sh', '-c', cmd], start_new_session=session)\n"
        "started = True",
        "%%workflow tree\nspawn",
    ]
    path = make_notebook(cells)
    source, _, base, _ = api.load_source(path)
    run = api.run_workflow(source, config=load_config(cache=False), workdir=base)
    assert run.phase == "Succeeded", run.summary()
    time.sleep(3)  # longer than the children needed: they would have written by now
    assert not marker.exists()
