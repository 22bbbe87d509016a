"""Pipelines with an s3:// artifact root: quickstart end to end, the magic, missing inputs."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.artifacts import ArtifactStore, RetryPolicy
from nbflow.config import load_config
from nbflow.engine.local import prepare
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodRequest, PodResult
from nbflow.engine.worker import LocalPod
from nbflow.notebook.extract import read_notebook
from nbflow.vocab import Phase

QUICKSTART = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def secrets_absent(texts: dict[str, bytes], s3: Any) -> None:
    """No credential and no endpoint in any of ``texts`` (file name → content)."""
    port = s3.endpoint.rsplit(":", 1)[1].encode()
    for name, data in texts.items():
        for secret in (s3.secret_key.encode(), s3.access_key.encode(), b"127.0.0.1:" + port):
            assert secret not in data, f"{secret!r} written into {name}"


@pytest.mark.kernel
def test_quickstart_runs_with_artifacts_on_s3(s3: Any, nbflow_home: Path, tmp_path: Path) -> None:
    wf = read_notebook(QUICKSTART).workflow()
    cfg = load_config(artifact_root="s3://nbflow-test/prefix")
    run = api.run_workflow(wf, config=cfg, workdir=tmp_path, base_dir=QUICKSTART.parent)
    assert run.phase == "Succeeded", run.summary()
    base = f"prefix/quickstart/{run.id}"
    keys = s3.keys(f"quickstart/{run.id}")
    assert f"{base}/generate/rows/nbflow.json" in keys
    assert [f"{base}/summarize/{i}/stats/nbflow.json" in keys for i in range(4)] == [True] * 4
    assert {f"{base}/fit/model/data.json", f"{base}/fit/r2/nbflow.json"} <= set(keys)
    assert f"{base}/report/notebook.ipynb" in keys
    assert not (nbflow_home / "artifacts").exists()  # nothing went to the local store
    outputs = run.outputs("fit")
    assert outputs["model"]["shards"] == 4 and outputs["r2"] > 0.9
    assert [s["shard"] for s in run.outputs("summarize")["stats"]] == [0, 1, 2, 3]
    assert run.notebook("report") == f"{s3.root}/quickstart/{run.id}/report/notebook.ipynb"
    assert run.error("generate")["ename"] == "ConnectionError"  # the first, failed attempt
    # reloaded from the run store, with the endpoint and credentials of today's environment
    again = api.get_run(run.id, config=load_config())
    assert again.outputs("fit") == outputs
    run_dir = nbflow_home / "runs" / run.id
    assert json.loads((run_dir / "run.json").read_text())["artifact_root"] == cfg.artifact_root
    files = {str(p): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    files.update({k: s3.fs.cat_file(f"{s3.bucket}/{k}") for k in keys})
    secrets_absent(files, s3)
    # a second run of the unchanged pipeline executes nothing: every step is a cache hit whose
    # artifacts are copied under the new run's keys in the bucket
    second = api.run_workflow(wf, config=cfg, workdir=tmp_path, base_dir=QUICKSTART.parent)
    assert second.phase == "Succeeded", second.summary()
    pods = [p for t in second.tasks() for p in second.pods(t)]
    assert pods and all(p["memoizationStatus"]["hit"] for p in pods)
    new_keys = s3.keys(f"quickstart/{second.id}")
    assert f"prefix/quickstart/{second.id}/fit/model/data.json" in new_keys
    assert second.outputs("fit") == outputs


@pytest.mark.kernel
def test_run_magic_takes_an_artifact_root(s3: Any, nbflow_home: Path, shell: Any) -> None:
    cells = [
        "%%template first --outputs x\nx = 16",
        "%%template second --inputs x --outputs y\ny = x + 1",
        "%%workflow pair\nfirst >> second",
    ]
    for cell in cells:
        assert shell.run_cell(cell).success
    result = shell.run_cell("run = %nbflow run pair --artifact-root s3://nbflow-test/magic")
    assert result.success, result.error_in_exec
    run = shell.user_ns["run"]
    assert run.phase == "Succeeded", run.summary()
    found = s3.fs.find(f"{s3.bucket}/magic/pair/{run.id}")
    assert f"{s3.bucket}/magic/pair/{run.id}/second/y/nbflow.json" in found
    assert run.outputs("second") == {"y": 17}
    failed = shell.run_cell("%nbflow run pair --artifact-root")
    assert "--artifact-root: expected one argument" in str(failed.error_in_exec)


def drive_until(op: Operator, wanted: str) -> PodRequest:
    """Report every pod before template ``wanted`` as succeeded, its outputs never stored."""
    pending = list(op.reconcile(NOW))
    while pending:
        req = pending.pop(0)
        if req.template["name"] == wanted:
            return req
        arts = (req.template.get("outputs") or {}).get("artifacts") or []
        outputs = {"artifacts": [{k: a[k] for k in ("name", "path", "s3")} for a in arts]}
        op.pod_finished(req.node_id, PodResult(Phase.SUCCEEDED, None, outputs), NOW)
        pending += op.reconcile(NOW)
    raise AssertionError(f"no pod of template {wanted!r} was requested")


@pytest.mark.parametrize(
    ("pipeline", "consumer", "expected"),
    [
        ("chain", "second", "its producer, task 'first' (run {run}), did not store it"),
        ("fanout", "train", "no item of the mapped task 'featurize' (run {run}) stored it"),
    ],
)
def test_missing_input_names_producer_and_key(
    s3: Any, make_notebook: Any, tmp_path: Path, pipeline: str, consumer: str, expected: str
) -> None:
    wf = prepare(api.compile_workflow(read_notebook(make_notebook(pipeline)).workflow()))
    run = wf["metadata"]["name"]
    req = drive_until(Operator(wf), consumer)
    (art,) = [a for a in req.inputs["artifacts"] if "s3" in a]
    store = ArtifactStore(s3.root, retry=RetryPolicy(retries=0))
    pod = LocalPod(req, store, tmp_path / "pod", tmp_path / "pod.log", tmp_path)
    result = pod.run(threading.Event())
    assert result.phase == Phase.ERROR
    url = f"{s3.root}/{art['s3']['key']}"
    assert result.message == (
        f"input artifact {art['name']!r} not found at {url}: " + expected.format(run=run)
    )
    assert not (tmp_path / "pod.log").exists()  # the step never started
