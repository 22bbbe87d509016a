"""The local engine's result cache: unchanged steps are reused, edits rerun their descendants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.digest import digest_path
from nbflow.engine.cache import COMPACT_SLACK, ResultCache, cache_key
from nbflow.engine.index import DigestIndex
from nbflow.engine.pod import PodRequest
from nbflow.notebook.extract import read_notebook

CELLS = [
    "%%setup\ndef mark(name):\n"
    "    with open('executions.log', 'a') as f:\n        f.write(name + '\\n')",
    "%%template a --outputs x\nmark('a')\nx = 2",
    "%%template b --inputs x --outputs y --param k=3\nmark('b')\ny = x * k",
    "%%template c --inputs y --outputs z\nmark('c')\nz = y + 1",
    "%%template d --outputs w --no-cache\nmark('d')\nw = 0",
    "%%workflow w\na >> b >> c\nd",
]


def run(path: Path, **kwargs: Any) -> Any:
    wf = read_notebook(path).workflow(None, kwargs.pop("parameters", None))
    cfg = load_config(**kwargs)
    return api.run_workflow(wf, config=cfg, workdir=path.parent, base_dir=path.parent)


def executed(path: Path) -> list[str]:
    log = path.parent / "executions.log"
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(names)


def hits(r: Any) -> dict[str, bool]:
    return {
        p["displayName"]: bool(p.get("memoizationStatus", {}).get("hit"))
        for t in r.tasks()
        for p in r.pods(t)
    }


@pytest.mark.kernel
def test_unchanged_rerun_executes_nothing_and_edits_rerun_descendants(
    make_notebook: Any, nbflow_home: Path
) -> None:
    path = make_notebook(CELLS)
    first = run(path)
    assert first.phase == "Succeeded" and executed(path) == ["a", "b", "c", "d"]
    second = run(path)
    assert second.phase == "Succeeded"
    assert executed(path) == ["d"]  # d opted out with --no-cache
    assert hits(second) == {"a": True, "b": True, "c": True, "d": False}
    assert second.outputs("c") == {"z": 7}
    # the cached run's artifacts are complete under its own keys
    assert (nbflow_home / "artifacts" / "w" / second.id / "b" / "y" / "nbflow.json").is_file()
    memo = second.task_nodes()["b"]["memoizationStatus"]
    assert memo["cacheName"] == "w" and len(memo["key"]) == 64
    # edit one cell: it and what depends on it run again, the rest is reused
    cells = list(CELLS)
    cells[2] = cells[2].replace("y = x * k", "y = x * k * 10")
    make_notebook(cells)
    third = run(path)
    assert executed(path) == ["b", "c", "d"]
    assert third.outputs("c") == {"z": 61}
    # a parameter is part of the key
    run(path, parameters={"k": 4})
    assert executed(path) == ["b", "c", "d"]
    # --no-cache runs everything
    assert run(path, cache=False).phase == "Succeeded"
    assert executed(path) == ["a", "b", "c", "d"]


@pytest.mark.kernel
def test_cli_no_cache_flag(make_notebook: Any, nbflow_home: Path) -> None:
    path = make_notebook(CELLS)
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-m", "nbflow.cli", "run", str(path), "--no-cache"],
            capture_output=True,
            text=True,
            cwd=path.parent,
        )
        assert proc.returncode == 0, proc.stderr
    assert executed(path) == ["a", "a", "b", "b", "c", "c", "d", "d"]


def test_digest_of_folders_is_content_based(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "f.txt").write_text("same")
    assert digest_path(one) == digest_path(two)
    (two / "sub" / "f.txt").write_text("different")
    assert digest_path(one) != digest_path(two)


def request(params: dict[str, str], arts: list[dict[str, Any]]) -> PodRequest:
    inputs = {"parameters": [{"name": k, "value": v} for k, v in params.items()], "artifacts": arts}
    return PodRequest("id", "wf.t", {}, inputs)


def test_cache_key_rules() -> None:
    tmpl = {"metadata": {"annotations": {"nbflow.io/code-sha256": "abc"}}}
    index = DigestIndex()
    index.by_key.update({"w/r/a/x/": "d1", "w/r/m/0/v/": "d2", "w/r/m/1/v/": "d3"})
    base = cache_key(request({"k": "1", "nbflow-key": "w/r/b"}, []), tmpl, index)
    assert base == cache_key(request({"k": "1", "nbflow-key": "w/OTHER/b"}, []), tmpl, index)
    assert base != cache_key(request({"k": "2", "nbflow-key": "w/r/b"}, []), tmpl, index)
    with_input = cache_key(request({}, [{"name": "x", "s3": {"key": "w/r/a/x/"}}]), tmpl, index)
    fan_in = cache_key(request({}, [{"name": "v", "s3": {"key": "w/r/m/"}}]), tmpl, index)
    assert with_input and fan_in and with_input != fan_in
    unknown = request({}, [{"name": "x", "s3": {"key": "w/r/zz/x/"}}])
    assert cache_key(unknown, tmpl, index) is None  # unknown content is never reused
    off = {
        "metadata": {"annotations": {"nbflow.io/code-sha256": "abc", "nbflow.io/cache": "false"}}
    }
    assert cache_key(request({}, []), off, index) is None


MEMO = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: memo-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: rand
        template: rand
        arguments: {parameters: [{name: x, value: "7"}]}
  - name: rand
    inputs: {parameters: [{name: x}]}
    memoize:
      key: "rand-{{inputs.parameters.x}}"
      maxAge: "1h"
      cache: {configMap: {name: my-cache}}
    script:
      image: python:3.11
      command: [python3]
      source: |
        import random
        print(random.random())
"""


def entry(n: int) -> dict[str, Any]:
    return {"outputs": {"parameters": [{"name": "x", "value": str(n)}]}, "nodeID": f"n{n}"}


def test_the_cache_file_is_a_journal_that_grows_by_one_line_per_entry(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "w.jsonl"
    cache = ResultCache(path, "w")
    cache.put("k1", entry(1))
    cache.put_all({"k2": entry(2), "k3": entry(3)})
    cache.put("k1", entry(4))  # a newer result for k1 replaces the older one
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k2", "k3", "k1"]
    again = ResultCache(path, "w")  # another run (or process) reading the same cache
    assert again.entries == {"k1": entry(4), "k2": entry(2), "k3": entry(3)}
    # two engines sharing the cache: neither loses the other's entries
    cache.put("k5", entry(5))
    again.put("k6", entry(6))
    assert set(ResultCache(path, "w").entries) == {"k1", "k2", "k3", "k5", "k6"}


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_entry_survives(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.jsonl"
    ResultCache(path, "w").put("k1", entry(1))
    with open(path, "a") as f:
        f.write('{"key": "k2", "entry": {"outp')  # the engine died in the middle of a write
    cache = ResultCache(path, "w")
    assert cache.entries == {"k1": entry(1)}
    cache.put("k3", entry(3))
    assert ResultCache(path, "w").entries == {"k1": entry(1), "k3": entry(3)}


def test_a_journal_mostly_of_stale_lines_is_rewritten_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    cache = ResultCache(path, "w")
    for n in range(COMPACT_SLACK + 10):
        cache.put("same", entry(n))
    assert len(path.read_text().splitlines()) == COMPACT_SLACK + 10
    reopened = ResultCache(path, "w")
    assert reopened.entries == {"same": entry(COMPACT_SLACK + 9)}
    assert len(path.read_text().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["w.jsonl"]  # no temporary file left


def test_a_cache_of_an_earlier_version_is_carried_over(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(json.dumps({"k1": entry(1), "k2": entry(2)}, indent=1))
    cache = ResultCache(tmp_path / "w.jsonl", "w")
    assert cache.entries == {"k1": entry(1), "k2": entry(2)}
    assert ResultCache(tmp_path / "w.jsonl", "w").entries == cache.entries


def test_argo_memoize_block_with_host_exec(nbflow_home: Path, tmp_path: Path) -> None:
    from nbflow.argo.manifest import load

    manifest = load(MEMO)
    first = api.run_workflow(manifest, workdir=tmp_path, host_exec=True)
    second = api.run_workflow(manifest, workdir=tmp_path, host_exec=True)
    (pod1,), (pod2,) = first.pods("rand"), second.pods("rand")
    assert pod1["memoizationStatus"] == {"hit": False, "key": "rand-7", "cacheName": "my-cache"}
    assert pod2["memoizationStatus"] == {"hit": True, "key": "rand-7", "cacheName": "my-cache"}
    assert pod1["outputs"]["result"] == pod2["outputs"]["result"]
    assert (nbflow_home / "cache" / "configmap-my-cache.jsonl").is_file()


@pytest.mark.kernel
def test_fan_in_hits_the_cache_on_an_unchanged_rerun(make_notebook: Any, nbflow_home: Path) -> None:
    path = make_notebook("fanout")
    first = run(path)
    second = run(path)
    assert first.phase == second.phase == "Succeeded"
    memo = second.task_nodes()["train"].get("memoizationStatus") or {}
    assert memo.get("hit") is True  # the fan-in's input digest does not depend on the run's name
    assert second.outputs("train") == first.outputs("train")
