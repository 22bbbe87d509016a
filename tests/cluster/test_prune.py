"""Cached steps left out of cluster submissions: local run on S3, prune, run the pruned manifest."""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.cluster.prune import NothingToRun
from nbflow.cluster.submit import submit_workflow
from nbflow.config import NbflowConfig, load_config
from nbflow.engine.cache import ResultCache
from nbflow.notebook.extract import read_notebook
from nbflow.vocab import CACHED_TASKS_ANNOTATION, DIGESTS

pytestmark = pytest.mark.kernel


def _load(relative: str) -> Any:
    """A helper module of the test tree (tests are not a package here)."""
    path = Path(__file__).parents[1] / relative
    name = "nbflow_tests_" + relative.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


s3_helpers = _load("s3/conftest.py")  # the moto server of the S3 tests
PIPELINES = _load("conftest.py").PIPELINES
ROOT = f"s3://{s3_helpers.BUCKET}/prefix"


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = s3_helpers.MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def bucket(moto: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """An empty test bucket on the moto server, the AWS environment pointing at it."""
    s3_helpers.aws_environment(monkeypatch, tmp_path, moto.endpoint)
    moto.reset()
    fs = s3_helpers.s3_client(moto.endpoint)
    fs.mkdir(s3_helpers.BUCKET)
    return fs


@pytest.fixture()
def home(nbflow_home: Path, kubeconfig: Path, bucket: Any, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private nbflow home whose config sends artifacts to the bucket (local runs and the
    cluster share it); the Kubernetes API double is the cluster."""
    conf = tmp_path / "jupyter-config"
    conf.mkdir()
    (conf / "nbflow_config.py").write_text(f"c.NbflowConfig.artifact_root = {ROOT!r}\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(conf))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(conf))
    return nbflow_home


def pipeline(make_notebook: Any, cells: str | list[str], name: str | None = None) -> Any:
    path = make_notebook(cells, name=f"{name or 'pipeline'}.ipynb")
    return read_notebook(path).workflow(name)


def run_locally(wf: Any, tmp_path: Path, cache: bool = True, **params: Any) -> Any:
    cfg = load_config()
    cfg.cache = cache
    run = api.run_workflow(wf, parameters=params or None, config=cfg, workdir=tmp_path)
    assert run.phase == "Succeeded", run.summary()
    return run


def submitted(kube: Any) -> list[dict[str, Any]]:
    return [o for (kind, _, _), o in kube.state.objects.items() if kind == "workflows"]


def dag_tasks(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    main = next(t for t in manifest["spec"]["templates"] if t["name"] == "main")
    return {t["name"]: t for t in main["dag"]["tasks"]}


def artifact_args(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in task["arguments"].get("artifacts") or []}


def output_key(run: Any, task: str, artifact: str) -> str:
    (pod,) = run.pods(task)
    return next(a["s3"]["key"] for a in pod["outputs"]["artifacts"] if a["name"] == artifact)


def as_submitted(obj: dict[str, Any]) -> dict[str, Any]:
    """What the client sent: the stored object without what the API server added."""
    meta = obj["metadata"]
    keep = ("generateName", "labels", "annotations")
    return {**copy.deepcopy(obj), "metadata": {k: meta[k] for k in keep if k in meta}}


def run_pruned(obj: dict[str, Any], tmp_path: Path) -> Any:
    """Run the pruned manifest with the local engine, no cache: every step left runs."""
    cfg: NbflowConfig = load_config()
    cfg.cache = False
    run = api.run_workflow(as_submitted(obj), config=cfg, workdir=tmp_path)
    assert run.phase == "Succeeded", run.summary()
    return run


def test_a_local_run_prunes_the_cluster_submission_and_the_rest_reads_its_artifacts(
    make_notebook: Any, home: Path, kube: Any, tmp_path: Path, validate_manifest: Any
) -> None:
    wf = pipeline(make_notebook, "chain")
    local = run_locally(wf, tmp_path)
    run = submit_workflow(wf, parameters={"scale": 2.0}, follow=False)
    (obj,) = submitted(kube)
    tasks = dag_tasks(obj)
    assert sorted(tasks) == ["second", "third"]  # first is cached; scale changed the rest
    cached = json.loads(obj["metadata"]["annotations"][CACHED_TASKS_ANNOTATION])
    assert list(cached) == ["first"] and len(cached["first"]) == 64
    x = artifact_args(tasks["second"])["x"]
    assert x == {"name": "x", "s3": {"key": output_key(local, "first", "x")}}
    assert "depends" not in tasks["second"] and tasks["third"]["depends"] == "second"
    assert run.tasks() == {}  # nothing ran yet on the (idle) cluster
    text = json.dumps(obj)
    assert s3_helpers.SECRET_KEY not in text and s3_helpers.ACCESS_KEY not in text
    assert "127.0.0.1" not in text
    validate_manifest(as_submitted(obj))
    # the rewritten manifest really runs: second reads the cached x, with the new scale
    again = run_pruned(obj, tmp_path)
    assert sorted(again.tasks()) == ["second", "third"]
    (pod,) = again.pods("second")
    assert {a["name"]: a["s3"]["key"] for a in pod["inputs"]["artifacts"] if "s3" in a} == {
        "x": output_key(local, "first", "x")
    }
    assert again.outputs("third") == {"label": "y=8.0"}


def test_an_edited_template_runs_with_its_dependents_and_depends_keeps_what_runs(
    make_notebook: Any, home: Path, kube: Any, tmp_path: Path, validate_manifest: Any
) -> None:
    local = run_locally(pipeline(make_notebook, "diamond"), tmp_path)
    cells = [c.replace("b = n * 10", "b = n * 100") for c in PIPELINES["diamond"]]
    submit_workflow(pipeline(make_notebook, cells, "diamond"), follow=False)
    (obj,) = submitted(kube)
    tasks = dag_tasks(obj)
    assert sorted(tasks) == ["join", "right"]  # right's code changed; join reads its output
    assert sorted(json.loads(obj["metadata"]["annotations"][CACHED_TASKS_ANNOTATION])) == [
        "left", "top"
    ]
    assert "depends" not in tasks["right"] and tasks["join"]["depends"] == "right"
    assert artifact_args(tasks["right"])["n"]["s3"]["key"] == output_key(local, "top", "n")
    join_args = artifact_args(tasks["join"])
    assert join_args["a"] == {"name": "a", "s3": {"key": output_key(local, "left", "a")}}
    assert join_args["b"]["from"] == "{{tasks.right.outputs.artifacts.b}}"
    validate_manifest(as_submitted(obj))
    again = run_pruned(obj, tmp_path)
    assert again.outputs("join") == {"total": 6 + 300}


def test_a_producer_named_in_a_depends_that_is_not_a_conjunction_runs(
    make_notebook: Any, home: Path, kube: Any, tmp_path: Path
) -> None:
    run_locally(pipeline(make_notebook, "diamond"), tmp_path)
    cells = [c.replace("b = n * 10", "b = n * 100") for c in PIPELINES["diamond"]]
    manifest = api.compile_workflow(pipeline(make_notebook, cells, "diamond"))
    join = dag_tasks(manifest)["join"]
    join["depends"] = "left.Succeeded && (right.Succeeded || right.Failed)"
    submit_workflow(manifest, follow=False)
    (obj,) = submitted(kube)
    tasks = dag_tasks(obj)
    # left is cached, but join's expression cannot just drop it: left runs (top stays out)
    assert sorted(tasks) == ["join", "left", "right"]
    assert list(json.loads(obj["metadata"]["annotations"][CACHED_TASKS_ANNOTATION])) == ["top"]
    assert tasks["join"]["depends"] == join["depends"]
    assert "depends" not in tasks["left"] and "from" not in artifact_args(tasks["left"])["n"]



def test_no_cache_submits_every_step_and_a_fully_cached_submit_says_so(
    make_notebook: Any, home: Path, kube: Any, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], nbflow: Any,
) -> None:
    nb = make_notebook("chain")
    run_locally(read_notebook(nb).workflow(), tmp_path)
    capsys.readouterr()
    assert nbflow(["submit", str(nb), "--no-cache"]) == 0
    (obj,) = submitted(kube)
    assert sorted(dag_tasks(obj)) == ["first", "second", "third"]
    assert CACHED_TASKS_ANNOTATION not in (obj["metadata"].get("annotations") or {})
    assert capsys.readouterr().out.strip() == obj["metadata"]["name"]
    # the same command with the cache: nothing to run, nothing submitted, not an error
    assert nbflow(["submit", str(nb)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and len(submitted(kube)) == 1
    assert err.strip() == (
        "nbflow: nothing to run: all 3 steps of chain are cached (--no-cache runs them again)"
    )


def test_fully_cached_raises_nothing_to_run(
    make_notebook: Any, home: Path, kube: Any, tmp_path: Path
) -> None:
    wf = pipeline(make_notebook, "diamond")
    local = run_locally(wf, tmp_path)
    with pytest.raises(NothingToRun) as caught:
        submit_workflow(wf)
    assert sorted(caught.value.cached) == ["join", "left", "right", "top"]
    assert "all 4 steps of diamond are cached" in str(caught.value)
    assert submitted(kube) == []
    assert local.phase == "Succeeded"


def test_an_entry_whose_artifact_is_gone_is_not_used(
    make_notebook: Any, home: Path, kube: Any, bucket: Any, tmp_path: Path
) -> None:
    wf = pipeline(make_notebook, "chain")
    local = run_locally(wf, tmp_path)
    gone = output_key(local, "second", "y")
    bucket.rm(f"{s3_helpers.BUCKET}/prefix/{gone}", recursive=True)
    submit_workflow(wf, follow=False)
    (obj,) = submitted(kube)
    tasks = dag_tasks(obj)
    assert sorted(tasks) == ["second", "third"]  # third's own entry is fine, second must run
    assert list(json.loads(obj["metadata"]["annotations"][CACHED_TASKS_ANNOTATION])) == ["first"]
    assert artifact_args(tasks["third"])["y"]["from"] == "{{tasks.second.outputs.artifacts.y}}"


def test_a_finished_cluster_run_fills_the_cache(
    make_notebook: Any, home: Path, kube: Any, tmp_path: Path
) -> None:
    wf = pipeline(make_notebook, "chain")
    local = run_locally(wf, tmp_path, cache=False)  # artifacts on S3, no cache entries
    cache_file = home / "cache" / "chain.jsonl"
    assert not cache_file.exists()
    run = submit_workflow(wf, follow=False)
    assert sorted(dag_tasks(submitted(kube)[0])) == ["first", "second", "third"]
    # Argo finishes the run; its pod nodes carry resolved inputs and outputs with S3 keys,
    # but not nbflow-digests, which only the local engine reports
    status = copy.deepcopy(local.workflow["status"])
    digests = {}
    for node in status["nodes"].values():
        params = (node.get("outputs") or {}).get("parameters") or []
        for p in params:
            if p["name"] == DIGESTS:
                digests[node["displayName"]] = p["value"]
        if params:
            node["outputs"]["parameters"] = [p for p in params if p["name"] != DIGESTS]
    assert sorted(digests) == ["first", "second", "third"]
    kube.state.update_status("team", run.id, status, {"workflows.argoproj.io/completed": "true"})
    run.wait(30)
    assert run.phase == "Succeeded"
    entries = ResultCache(cache_file, "chain").entries
    assert len(entries) == 3
    recorded = {
        p["value"] for e in entries.values() for p in e["outputs"]["parameters"]
        if p["name"] == DIGESTS
    }
    assert recorded == set(digests.values())  # read back from S3: the digests the pods had
    with pytest.raises(NothingToRun):
        submit_workflow(wf)
    assert len(submitted(kube)) == 1


def test_a_mapped_task_is_pruned_and_the_fan_in_reads_its_items(
    make_notebook: Any, home: Path, kube: Any, tmp_path: Path, validate_manifest: Any
) -> None:
    cells = PIPELINES["fanout"]
    local = run_locally(pipeline(make_notebook, cells, "fanout"), tmp_path)
    edited = [c.replace("total = sum(", "total = 1000 + sum(") for c in cells]
    submit_workflow(pipeline(make_notebook, edited, "fanout"), follow=False)
    (obj,) = submitted(kube)
    tasks = dag_tasks(obj)
    assert sorted(tasks) == ["train"]
    cached = json.loads(obj["metadata"]["annotations"][CACHED_TASKS_ANNOTATION])
    assert sorted(cached) == ["extract", "featurize"] and len(cached["featurize"]) == 8
    assert artifact_args(tasks["train"])["feats"] == {
        "name": "feats", "s3": {"key": f"fanout/{local.id}/featurize/"}
    }
    validate_manifest(as_submitted(obj))
    again = run_pruned(obj, tmp_path)
    assert again.outputs("train") == {"total": 1000 + sum(i * i for i in range(8)),
                                      "shards": list(range(8))}


def test_the_magic_submits_only_what_is_not_cached(
    shell: Any, home: Path, kube: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for cell in PIPELINES["chain"][1:-1]:  # the extension is loaded already
        magic, _, body = cell[2:].partition("\n")
        name, _, line = magic.partition(" ")
        shell.run_cell_magic(name, line, body)
    shell.run_cell_magic("workflow", "chain", "first >> second >> third")
    local = shell.run_line_magic("nbflow", "run chain")
    assert local.phase == "Succeeded", local.summary()
    capsys.readouterr()
    assert shell.run_line_magic("nbflow", "run chain --backend argo") is None
    assert "nothing to run: all 3 steps of chain are cached" in capsys.readouterr().out
    assert submitted(kube) == []
    # an edited step and what follows it are submitted; the first step stays cached
    shell.run_cell_magic("template", "second --inputs x --outputs y --param scale=1.0",
                         "y = math.sqrt(x) * scale + 1")
    run = shell.run_line_magic("nbflow", "run chain --backend argo --background")
    (obj,) = submitted(kube)
    assert run.id == obj["metadata"]["name"]
    assert sorted(dag_tasks(obj)) == ["second", "third"]
    assert list(json.loads(obj["metadata"]["annotations"][CACHED_TASKS_ANNOTATION])) == ["first"]
