"""The quickstart demo notebook, executed in a real kernel: magics, a run, outputs back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

QUICKSTART = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"


@pytest.mark.kernel
def test_quickstart_notebook_executes(nbflow_home: Path, tmp_path: Path) -> None:
    import papermill

    out = tmp_path / "quickstart.out.ipynb"
    work = tmp_path / "work"  # the run's folder: not the checkout
    work.mkdir()
    papermill.execute_notebook(
        str(QUICKSTART),
        str(out),
        cwd=str(work),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = json.loads(out.read_text())
    text = json.dumps(nb)
    assert "'shards': 4" in text  # the fan-in saw every shard
    runs = list((nbflow_home / "runs").iterdir())
    assert len(runs) == 1
    wf = json.loads((runs[0] / "workflow.json").read_text())
    assert wf["status"]["phase"] == "Succeeded"
    generate = [
        n for n in wf["status"]["nodes"].values() if n["displayName"].startswith("generate(")
    ]
    assert [n["phase"] for n in generate] == ["Failed", "Succeeded"]  # the flaky step was retried
