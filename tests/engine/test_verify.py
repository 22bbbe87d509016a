"""Every input is checked against its producer's digest: step inputs, fan-ins, cache hits,
``Run.outputs()``; pickles planted under the artifact root never run. Real kernels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.errors import IntegrityError, MarshalError
from nbflow.notebook.extract import read_notebook

pytestmark = pytest.mark.kernel

FAN = [
    "%%template make --outputs x\nx = 1",
    "%%template item --inputs x --outputs y --param i=0\ny = x + i",
    "%%template agg --inputs y --outputs total\ntotal = sum(y)",
    "%%workflow fan\nmake >> item.map(i=range(4)) >> agg",
]
CHAIN = [
    "%%setup\ndef mark(name):\n    with open('executions.log', 'a') as f:\n"
    "        f.write(name + '\\n')",
    "%%template a --outputs x\nmark('a')\nx = [1] * 10",
    "%%template b --inputs x --outputs total\nmark('b')\ntotal = sum(x)",
    "%%workflow ch\na >> b",
]


def executed(path: Path) -> list[str]:
    log = path.parent / "executions.log"
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(names)


def artifact(home: Path, r: Any, *parts: str) -> Path:
    return home / "artifacts" / r.workflow["metadata"]["labels"]["nbflow.io/workflow"] / r.id / \
        Path(*parts)


def test_a_fan_in_with_an_item_gone_fails_naming_the_producer_and_the_key(
    make_notebook: Any, nbflow_home: Path, run_notebook: Any
) -> None:
    path = make_notebook(FAN)
    first = run_notebook(path, cache=False)
    assert first.outputs("agg") == {"total": 10}
    shutil.rmtree(artifact(nbflow_home, first, "item", "2"))
    make_notebook([*FAN[:2], FAN[2] + "\nprint('again')", FAN[3]])
    again = api.rerun_from(first.id, "agg", workflow=read_notebook(path).workflow())
    assert again.phase == "Error"
    (pod,) = again.pods("agg")
    assert pod["phase"] == "Error"
    assert pod["message"] == (
        f"input 'y': item 2 of mapped task 'item' (fan/{first.id}/item/2/y/) is missing"
    )


def test_an_edited_cached_artifact_is_never_served_and_the_step_runs_again(
    make_notebook: Any, nbflow_home: Path, run_notebook: Any
) -> None:
    path = make_notebook(CHAIN)
    first = run_notebook(path)
    assert executed(path) == ["a", "b"]
    artifact(nbflow_home, first, "a", "x", "data.json").write_text(json.dumps([300] * 10))
    make_notebook([*CHAIN[:2], CHAIN[2] + "\ntotal = total * 1", CHAIN[3]])  # b must run
    second = run_notebook(path)
    assert second.phase == "Succeeded"
    assert executed(path) == ["a", "b"]  # a's entry was dropped: a ran again
    assert second.outputs("b") == {"total": 10}
    third = run_notebook(path)
    assert executed(path) == []  # the new entries serve again
    assert third.outputs("b") == {"total": 10}


def test_a_cache_entry_whose_data_is_gone_is_dropped_and_no_cache_repairs(
    make_notebook: Any, nbflow_home: Path, run_notebook: Any
) -> None:
    path = make_notebook(CHAIN)
    first = run_notebook(path)
    executed(path)
    artifact(nbflow_home, first, "a", "x", "data.json").unlink()  # nbflow.json kept
    second = run_notebook(path)
    # a's entry was dropped and a ran again; b's own entry is intact, and its input's digest
    # is the same again: b is served from the cache
    assert second.phase == "Succeeded" and executed(path) == ["a"]
    assert second.outputs("b") == {"total": 10}
    assert second.outputs("a") == {"x": [1] * 10}
    # --no-cache runs everything, and its results replace the entries
    artifact(nbflow_home, second, "a", "x", "data.json").write_text("[0]")
    assert run_notebook(path, cache=False).phase == "Succeeded"
    assert executed(path) == ["a", "b"]
    assert run_notebook(path).phase == "Succeeded" and executed(path) == []


def plant(folder: Path, payload: bytes) -> None:
    (folder / "data.json").unlink(missing_ok=True)
    (folder / "data.pkl").write_bytes(payload)
    (folder / "nbflow.json").write_text(json.dumps({"format": "pickle", "type": "list"}))


def test_a_planted_pickle_runs_neither_in_the_next_step_nor_in_the_client(
    make_notebook: Any, nbflow_home: Path, run_notebook: Any, planted_pickle: Any
) -> None:
    payload, marker = planted_pickle
    path = make_notebook(CHAIN)
    first = run_notebook(path, cache=False)
    plant(artifact(nbflow_home, first, "a", "x"), payload)
    make_notebook([*CHAIN[:2], CHAIN[2] + "\ntotal = total * 1", CHAIN[3]])
    again = api.rerun_from(first.id, "b", workflow=read_notebook(path).workflow())
    (pod,) = again.pods("b")
    assert pod["phase"] == "Error"
    assert pod["message"].startswith(
        f"input 'x': artifact ch/{first.id}/a/x/ of task 'a' changed after it was written"
    )
    with pytest.raises(IntegrityError, match=f"output 'x' of task 'a' \\(ch/{first.id}/a/x/\\)"):
        api.get_run(first.id).outputs("a")
    assert not marker.exists()


def test_pickle_turned_off_fails_the_output_that_needs_it(
    make_notebook: Any, nbflow_home: Path, run_notebook: Any
) -> None:
    path = make_notebook(
        ["%%template s --outputs shards\nshards = {1, 2}", "%%template j --outputs n\nn = 1",
         "%%workflow p\ns\nj"]
    )
    r = run_notebook(path, allow_pickle=False)
    (pod,) = r.pods("s")
    assert r.tasks() == {"s": "Failed", "j": "Succeeded"}
    assert "output 'shards' of template 's' (a set) needs a registered format" in pod["message"]
    ok = run_notebook(path, allow_pickle=True, cache=False)
    assert ok.outputs("s") == {"shards": {1, 2}}  # verified against the record, then loaded
    ok.allow_pickle = False
    with pytest.raises(MarshalError, match="pickle is turned off"):
        ok.outputs("s")
