"""The run index keeps the record of a run a watcher follows, as its refreshes read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbflow.engine.store import RunStore
from nbflow.history import RunIndex


def _workflow(name: str, phase: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {}, "status": {"phase": phase}}


def test_a_followed_run_keeps_the_record_its_refresh_read(nbflow_home: Path) -> None:
    store = RunStore(nbflow_home / "runs")
    wf = _workflow("w-1", "Running")
    store.create(wf, {"workflow": "w"})
    index = RunIndex(store.root)
    index.refresh()
    assert index.recorded("w-1") is None  # not followed
    index.follow("w-1")
    assert index.recorded("w-1") is None  # not read since
    wf = _workflow("w-1", "Succeeded")
    store.save(wf)
    assert index.refresh()[0] == ["w-1"]
    assert index.recorded("w-1") == wf
    index.put(_workflow("w-1", "Running"), {"workflow": "w"}, live=True)
    assert index.recorded("w-1") is None  # from memory now: its file is not read
    index.release("w-1")
    index.refresh()
    assert index.recorded("w-1") == wf
    index.follow("w-1", on=False)
    assert index.recorded("w-1") is None


def test_a_cluster_run_is_never_kept(nbflow_home: Path) -> None:
    store = RunStore(nbflow_home / "runs")
    store.create(_workflow("c-1", "Running"), {"workflow": "c", "backend": "argo"})
    index = RunIndex(store.root)
    index.follow("c-1")
    assert index.refresh()[0] == ["c-1"]
    assert index.recorded("c-1") is None  # the cluster has its state, not the file


def test_a_deleted_run_is_forgotten(nbflow_home: Path) -> None:
    import shutil

    store = RunStore(nbflow_home / "runs")
    store.create(_workflow("d-1", "Running"), {"workflow": "d"})
    index = RunIndex(store.root)
    index.follow("d-1")
    index.refresh()
    assert index.recorded("d-1") is not None
    shutil.rmtree(store.run_dir("d-1"))
    assert index.refresh()[1] == ["d-1"]
    assert index.recorded("d-1") is None
