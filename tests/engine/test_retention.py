"""``nbflow gc`` and ``nbflow delete``: the retention policy, and what must never be removed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.engine.retention import RunInfo, plan_retention, protects
from nbflow.engine.store import RunStore
from nbflow.errors import NbflowError
from nbflow.notebook.extract import read_notebook

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def info(name: str, workflow: str, days_ago: float, **kw: Any) -> RunInfo:
    return RunInfo(name, workflow, NOW - timedelta(days=days_ago), kw.pop("live", False), "r",
                   **kw)


def test_the_policy_keeps_the_last_runs_per_workflow_and_the_young_ones() -> None:
    runs = [info(f"a-{i}", "a", 10 - i) for i in range(5)] + [info("b-0", "b", 30),
                                                              info("b-1", "b", 0.5)]
    runs.append(info("a-live", "a", 50, live=True))
    runs.append(info("a-bad", "?", 50, problem="corrupt"))
    plan = plan_retention(runs, keep_last=2, keep_days=0, now=NOW, cached=set())
    assert sorted(r.name for r in plan.remove) == ["a-0", "a-1", "a-2"]  # b has only 2
    assert plan.reasons["a-4"] == "one of the last 2 runs of a"
    assert plan.reasons["a-live"] == "it is running"
    assert plan.reasons["a-bad"].startswith("its record cannot be read")
    young = plan_retention(runs, keep_last=0, keep_days=7.5, now=NOW, cached=set())
    assert sorted(r.name for r in young.remove) == ["a-0", "a-1", "a-2", "b-0"]
    both = plan_retention(runs, keep_last=1, keep_days=8.5, now=NOW, cached=set())
    assert sorted(r.name for r in both.remove) == ["a-0", "a-1", "b-0"]


def test_what_kept_runs_read_and_the_cache_points_at_is_protected() -> None:
    old = info("a-0", "a", 9, keys={"a/a-0/t/x/", "a/a-0/m/0/y/"})
    new = info("a-1", "a", 1, reads={"a/a-0/m/"})  # a fan-in of the old run's items
    plan = plan_retention([old, new], keep_last=1, keep_days=0, now=NOW, cached={"a/a-0/t/x/"})
    assert [r.name for r in plan.remove] == ["a-0"]
    assert protects(plan.protected, "a/a-0/t/x/") and protects(plan.protected, "a/a-0/m/0/y/")
    assert protects(plan.protected, "a/a-0/")  # the prefix holds protected keys
    assert not protects(plan.protected, "a/a-0/t/z/")


CELLS = [
    "%%template a --outputs x\nx = [1, 2, 3]",
    "%%template b --inputs x --outputs total --no-cache\ntotal = sum(x)",
    "%%workflow g\na >> b",
]


@pytest.mark.kernel
def test_gc_removes_old_runs_but_keeps_what_the_cache_needs(
    make_notebook: Any, nbflow_home: Path
) -> None:
    path = make_notebook(CELLS)
    wf = read_notebook(path).workflow()
    ids = [api.run_workflow(wf, workdir=path.parent).id for _ in range(3)]
    arts = nbflow_home / "artifacts" / "g"
    dry = api.collect_garbage(keep_last=1, dry_run=True)
    assert sorted(r.run for r in dry.removed) == sorted(ids[:2])
    assert all((nbflow_home / "runs" / i).is_dir() for i in ids)  # a dry run deletes nothing
    done = api.collect_garbage(keep_last=1)
    assert sorted(r.run for r in done.removed) == sorted(ids[:2]) and done.bytes > 0
    assert api.list_runs() == [ids[2]]
    # the first run made a's cache entry: its x stays, the rest of that run is gone
    assert (arts / ids[0] / "a" / "x" / "nbflow.json").is_file()
    assert not (arts / ids[0] / "b").exists() and not (arts / ids[1]).exists()
    again = api.run_workflow(wf, workdir=path.parent)
    (pod,) = again.pods("a")
    assert pod["memoizationStatus"]["hit"] and again.outputs("b") == {"total": 6}
    with pytest.raises(NbflowError, match="nothing says which runs to keep"):
        api.collect_garbage()


@pytest.mark.kernel
def test_delete_a_run_and_the_cli_with_retention_from_the_config(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path
) -> None:
    path = make_notebook(CELLS)
    wf = read_notebook(path).workflow()
    first, second = (api.run_workflow(wf, workdir=path.parent, config=load_config(cache=False))
                     for _ in range(2))
    held = RunStore(nbflow_home / "runs").acquire(second.id)  # an engine works on it
    try:
        with pytest.raises(NbflowError, match=f"run {second.id} is still running"):
            api.delete_runs([second.id])
    finally:
        held.release()
    proc = subprocess.run([sys.executable, "-m", "nbflow.cli", "delete", first.id, "--dry-run"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith(f"would remove {first.id} (")
    assert api.list_runs() == [first.id, second.id]
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "nbflow_config.py").write_text("c.NbflowConfig.keep_last_runs = 1\n")
    env = {"JUPYTER_CONFIG_DIR": str(conf), "JUPYTER_CONFIG_PATH": str(conf)}
    import os

    proc = subprocess.run([sys.executable, "-m", "nbflow.cli", "gc"], capture_output=True,
                          text=True, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"removed {first.id} (")
    assert api.list_runs() == [second.id]
    assert json.loads((nbflow_home / "runs" / second.id / "workflow.json").read_text())
