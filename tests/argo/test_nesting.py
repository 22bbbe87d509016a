"""Nesting DAGs of more than 200 tasks: valid manifests, and the same run on the local operator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from nbflow.argo.compile import translate
from nbflow.argo.limits import check_manifest
from nbflow.argo.nesting import nest_large_dags, task_nodes
from nbflow.engine.operator import Operator
from nbflow.engine.pod import PodRequest, PodResult
from nbflow.errors import ManifestError
from nbflow.model import Task, Template, Workflow
from nbflow.vocab import Phase

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def big_workflow(pairs: int = 150) -> Workflow:
    """seed -> pairs of (mid -> end) reading seed's x, some ends gated by a when; a fan-out."""
    templates = {
        "seed": Template("seed", source="x = 1", outputs=("x",)),
        "mid": Template("mid", source="z = x + 1", inputs=("x",), outputs=("z",)),
        "end": Template("end", source="print(z)", inputs=("z",)),
        "fan": Template("fan", source="y = x * k", inputs=("x",), outputs=("y",),
                        parameters={"k": 0}),
        "join": Template("join", source="print(sum(y))", inputs=("y",)),
    }
    tasks = [Task("seed", "seed")]
    for i in range(pairs):
        tasks.append(Task(f"mid{i}", "mid", depends=("seed",)))
        tasks.append(
            Task(f"end{i}", "end", depends=(f"mid{i}",), when="z > 0" if i % 40 == 0 else None)
        )
    tasks.append(Task("fan", "fan", map_items={"k": [1, 2, 3]}, depends=("seed",)))
    tasks.append(Task("join", "join", depends=("fan",)))
    return Workflow("big", templates, tuple(tasks))


def run_operator(manifest: dict[str, Any], fail: str | None = None) -> tuple[Operator, dict]:
    """Run a manifest to its end with fake pods; record each pod's resolved input artifacts."""
    wf = {**manifest, "metadata": {"name": "big-x"}}
    op = Operator(wf)
    seen: dict[str, list[tuple[str, str]]] = {}
    now = T0
    pending: list[PodRequest] = []
    for _ in range(5000):
        pending += op.reconcile(now)
        if op.done:
            return op, seen
        now += timedelta(seconds=1)
        req = pending.pop(0)
        display = op.nodes[req.node_id]["displayName"]
        seen[display] = sorted(
            (a["name"], (a.get("s3") or {}).get("key", "raw"))
            for a in req.inputs.get("artifacts") or []
        )
        phase = Phase.FAILED if display == fail else Phase.SUCCEEDED
        op.pod_finished(req.node_id, PodResult(phase, outputs=fake_outputs(req)), now)
    raise AssertionError("did not finish")


def fake_outputs(req: PodRequest) -> dict[str, Any]:
    spec = req.template.get("outputs") or {}
    arts = [
        {"name": a["name"], "path": a["path"], "s3": {"key": a["s3"]["key"]}}
        for a in spec.get("artifacts") or []
    ]
    params = [{"name": p["name"], "value": "1"} for p in spec.get("parameters") or []]
    return {"artifacts": arts, **({"parameters": params} if params else {})}


@pytest.fixture(scope="module")
def manifests() -> tuple[dict[str, Any], dict[str, Any]]:
    flat = translate(big_workflow())
    return flat, nest_large_dags(flat)


def test_small_manifests_are_left_alone() -> None:
    flat = translate(big_workflow(pairs=5))
    assert nest_large_dags(flat) == flat


def test_nested_manifest_is_valid(manifests: Any, validate_manifest: Any) -> None:
    flat, nested = manifests
    assert len(flat["spec"]["templates"][0]["dag"]["tasks"]) == 303
    assert [p.where for p in check_manifest(flat)] == ["spec.templates[main].dag.tasks"]
    validate_manifest(nested)
    assert check_manifest(nested) == []
    main = nested["spec"]["templates"][0]
    assert main["dag"]["tasks"] == [
        {"name": "part-1", "template": "main-part-1"},
        {"name": "part-2", "template": "main-part-2", "depends": "part-1"},
    ]
    parts = {t["name"]: t for t in nested["spec"]["templates"] if t["name"].startswith("main-")}
    sizes = [len(parts[f"main-part-{i}"]["dag"]["tasks"]) for i in (1, 2)]
    assert sizes == [200, 103]
    assert {t["name"] for t in nested["spec"]["templates"]} == {
        "main", "main-part-1", "main-part-2", "seed", "mid", "end", "fan", "join"
    }


def test_references_across_parts_become_keys_and_when_stays_with_its_producer(
    manifests: Any,
) -> None:
    _, nested = manifests
    part2 = next(t for t in nested["spec"]["templates"] if t["name"] == "main-part-2")
    by_name = {t["name"]: t for t in part2["dag"]["tasks"]}
    # mid120 reads seed's x from part 1: by its key, and its depends on seed is dropped
    mid = by_name["mid120"]
    assert "depends" not in mid
    assert mid["arguments"]["artifacts"] == [
        {"name": "x", "s3": {"key": "big/{{workflow.name}}/seed/x/"}}
    ]
    # end120 is gated by a when on mid120's output: both are in the same part
    assert by_name["end120"]["when"] == (
        "{{=jsonpath(tasks['mid120'].outputs.parameters['z'], '$') > 0}}"
    )
    assert by_name["end120"]["depends"] == "mid120"
    assert by_name["end120"]["arguments"]["artifacts"] == [
        {"name": "z", "from": "{{tasks.mid120.outputs.artifacts.z}}"}
    ]
    # the fan-out is still one task, and its fan-in reads the key prefix as before
    assert len(by_name["fan"]["withItems"]) == 3
    assert by_name["join"]["depends"] == "fan"


def test_nested_run_matches_the_flat_run_on_the_operator(manifests: Any) -> None:
    flat, nested = manifests
    op_flat, seen_flat = run_operator(flat)
    op_nested, seen_nested = run_operator(nested)
    assert op_flat.phase == op_nested.phase == "Succeeded"
    assert seen_nested == seen_flat  # every pod ran, with the same input artifact keys
    assert len(seen_flat) == 305  # 303 tasks, the fan-out runs 3 pods
    flat_tasks = task_nodes(op_flat.wf)
    nested_tasks = task_nodes(op_nested.wf)
    assert {k: n["phase"] for k, n in nested_tasks.items()} == {
        k: n["phase"] for k, n in flat_tasks.items()
    }
    assert nested_tasks["end120"]["name"] == "big-x.part-2.end120"


def test_a_failure_in_one_part_fails_the_run_and_stops_what_depends_on_it(manifests: Any) -> None:
    flat, nested = manifests
    op_flat, seen_flat = run_operator(flat, fail="seed")
    op_nested, seen_nested = run_operator(nested, fail="seed")
    assert op_flat.phase == op_nested.phase == "Failed"
    assert list(seen_nested) == list(seen_flat) == ["seed"]
    part2 = task_nodes(op_nested.wf)
    assert "mid120" not in part2  # the whole second part was omitted
    parts = [n for n in op_nested.nodes.values() if n["displayName"] == "part-2"]
    assert parts[0]["phase"] == "Omitted"


def one_dag(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """A Workflow whose entrypoint is a DAG of ``tasks``, each running the container ``t``."""
    return {
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "dag": {"tasks": tasks}},
                          {"name": "t", "container": {"image": "x"}}],
        },
    }


def test_tied_tasks_over_the_limit_cannot_be_nested() -> None:
    tasks = [{"name": "a", "template": "t"}] + [
        {"name": f"b{i}", "template": "t", "depends": "a.Succeeded || a.Failed"} for i in range(5)
    ]
    wf = one_dag(tasks)
    with pytest.raises(ManifestError, match="6 tasks .* are tied together"):
        nest_large_dags(wf, max_tasks=4)
    nested = nest_large_dags(wf, max_tasks=6)
    assert nested == wf


def test_many_parts_nest_again_and_keep_dependencies() -> None:
    tasks = [{"name": "t0", "template": "t"}] + [
        {"name": f"t{i}", "template": "t", "depends": f"t{i - 1}"} for i in range(1, 30)
    ]
    wf = one_dag(tasks)
    nested = nest_large_dags(wf, max_tasks=3)
    for tmpl in nested["spec"]["templates"]:
        assert len((tmpl.get("dag") or {}).get("tasks") or []) <= 3
    names = [t["name"] for t in nested["spec"]["templates"]]
    assert names[:3] == ["main", "main-parts-1-9", "main-parts-10-10-2"]
    assert "main-parts-1-3" in names and "main-part-10" in names
    op, seen = run_operator(nested)
    assert op.phase == "Succeeded"
    assert list(seen) == [f"t{i}" for i in range(30)]  # still strictly in chain order
    assert list(task_nodes(op.wf)) == [f"t{i}" for i in range(30)]
    assert task_nodes(op.wf)["t29"]["name"] == "big-x.parts-10-10.parts-10-10.part-10.t29"


@pytest.mark.kernel
def test_nested_chain_runs_on_the_local_engine(make_notebook: Any, nbflow_home: Any) -> None:
    """Real steps: the third task reads the second's output across parts, by its key."""
    from nbflow import api
    from nbflow.config import load_config
    from nbflow.marshal import load
    from nbflow.notebook.extract import read_notebook

    path = make_notebook("chain")
    flat = api.compile_workflow(read_notebook(path).workflow(), base_dir=path.parent)
    nested = nest_large_dags(flat, max_tasks=2)
    third = next(t for t in nested["spec"]["templates"] if t["name"] == "main-part-2")
    assert third["dag"]["tasks"][0]["arguments"]["artifacts"] == [
        {"name": "y", "s3": {"key": "chain/{{workflow.name}}/second/y/"}}
    ]
    run = api.run_workflow(nested, config=load_config(), workdir=path.parent)
    assert run.phase == "Succeeded", run.summary()
    nodes = task_nodes(run.workflow)
    assert {k: n["phase"] for k, n in nodes.items()} == dict.fromkeys(
        ("first", "second", "third"), "Succeeded"
    )
    label = next(a for a in nodes["third"]["outputs"]["artifacts"] if a["name"] == "label")
    assert load(run.store.local_path(label["s3"]["key"])) == "y=4.0"
