"""A run started with --no-cache keeps it when it is resumed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook

pytestmark = pytest.mark.kernel

CELLS = [
    "%%template b --outputs n\nimport time\nfrom pathlib import Path\n"
    "with open('b.count', 'a') as f:\n    f.write('x')\n"
    "while Path('slow').exists():\n    time.sleep(0.1)\nn = 1",
    "%%workflow w\nb",
]


def _b_hit(run: Any) -> bool:
    pods = run.pods("b")
    return bool((pods[-1].get("memoizationStatus") or {}).get("hit"))


def test_resume_of_a_no_cache_run_reuses_no_cached_result(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path
) -> None:
    wf = read_notebook(make_notebook(CELLS)).workflow("w")
    first = api.run_workflow(wf, workdir=tmp_path, base_dir=tmp_path)  # b's result is cached
    assert first.phase == "Succeeded"
    (tmp_path / "slow").write_text("")
    run = api.run_workflow(wf, config=load_config(cache=False), workdir=tmp_path,
                           base_dir=tmp_path, wait=False)
    while (tmp_path / "b.count").read_text() != "xx":  # b runs (no cache), and waits
        time.sleep(0.1)
    api.stop_run(run.id)
    run.wait()
    assert run.phase == "Failed"
    (tmp_path / "slow").unlink()
    resumed = api.resume_run(run.id)  # the default configuration: cache on
    assert resumed.phase == "Succeeded"
    assert (tmp_path / "b.count").read_text() == "xxx" and not _b_hit(resumed)
