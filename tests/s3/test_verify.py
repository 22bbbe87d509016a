"""On an s3:// artifact root (moto's server over HTTP): fan-ins that lost items, cached artifacts
changed in the bucket and planted pickles are refused, as on a local root. Real kernels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.errors import IntegrityError
from nbflow.notebook.extract import read_notebook

pytestmark = pytest.mark.kernel

ROOT = "s3://nbflow-test/prefix"
FAN = [
    "%%template make --outputs x\nx = 1",
    "%%template item --inputs x --outputs y --param i=0\ny = x + i",
    "%%template agg --inputs y --outputs total\ntotal = sum(y)",
    "%%workflow fan\nmake >> item.map(i=range(8)) >> agg",
]


def rerun(path: Path, run_id: str, task: str) -> Any:
    wf = read_notebook(path).workflow()
    cfg = load_config(artifact_root=ROOT)
    return api.rerun_from(run_id, task, workflow=wf, config=cfg)


def test_a_fan_in_whose_items_the_server_lost_fails_instead_of_summing_the_rest(
    s3: Any, nbflow_home: Path, make_notebook: Any, run_notebook: Any
) -> None:
    path = make_notebook(FAN)
    first = run_notebook(path, artifact_root=ROOT, cache=False)
    assert first.outputs("agg") == {"total": 8 + 28}
    for i in range(4):  # the server lost items 0-3
        s3.fs.rm(f"{s3.bucket}/prefix/fan/{first.id}/item/{i}", recursive=True)
    make_notebook([*FAN[:2], FAN[2] + "\nprint(total)", FAN[3]])
    again = rerun(path, first.id, "agg")
    assert again.phase == "Error"
    (pod,) = again.pods("agg")
    assert pod["message"] == (
        f"input 'y': item 0 of mapped task 'item' (fan/{first.id}/item/0/y/) is missing"
    )
    with pytest.raises(IntegrityError, match=r"output 'y' of task 'item' .* is missing"):
        again.outputs("item")


def test_a_cached_artifact_changed_in_the_bucket_is_not_reused(
    s3: Any, nbflow_home: Path, make_notebook: Any, run_notebook: Any
) -> None:
    cells = [
        "%%template a --outputs x\nx = [1] * 10",
        "%%template b --inputs x --outputs total\ntotal = sum(x)",
        "%%workflow ch\na >> b",
    ]
    path = make_notebook(cells)
    first = run_notebook(path, artifact_root=ROOT)
    s3.fs.pipe(f"{s3.bucket}/prefix/ch/{first.id}/a/x/data.json", json.dumps([300] * 10).encode())
    make_notebook([cells[0], cells[1] + "\ntotal = total * 1", cells[2]])
    second = run_notebook(path, artifact_root=ROOT)
    assert second.phase == "Succeeded"
    hits = {p["displayName"]: p.get("memoizationStatus", {}).get("hit") for p in
            [*second.pods("a"), *second.pods("b")]}
    assert hits == {"a": False, "b": False}  # a's entry was dropped: a ran again
    assert second.outputs("b") == {"total": 10}


def test_a_pickle_planted_in_the_bucket_runs_nowhere(
    s3: Any, nbflow_home: Path, make_notebook: Any, run_notebook: Any, planted_pickle: Any
) -> None:
    payload, marker = planted_pickle
    cells = [
        "%%template a --outputs x\nx = [1] * 10",
        "%%template b --inputs x --outputs total\ntotal = sum(x)",
        "%%workflow ch\na >> b",
    ]
    path = make_notebook(cells)
    first = run_notebook(path, artifact_root=ROOT, cache=False)
    folder = f"{s3.bucket}/prefix/ch/{first.id}/a/x"
    s3.fs.rm(f"{folder}/data.json")
    s3.fs.pipe(f"{folder}/data.pkl", payload)
    s3.fs.pipe(f"{folder}/nbflow.json", json.dumps({"format": "pickle", "type": "list"}).encode())
    make_notebook([cells[0], cells[1] + "\ntotal = total * 1", cells[2]])
    again = rerun(path, first.id, "b")
    (pod,) = again.pods("b")
    assert pod["phase"] == "Error"
    assert pod["message"].startswith(
        f"input 'x': artifact ch/{first.id}/a/x/ of task 'a' changed after it was written"
    )
    with pytest.raises(IntegrityError, match="changed after it was written"):
        api.get_run(first.id, config=load_config()).outputs("a")
    assert not marker.exists()
