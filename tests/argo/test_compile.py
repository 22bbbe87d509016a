"""Compiler tests: golden manifests, validated against Argo's schema, and the compile rules."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.argo.compile import to_manifest
from nbflow.argo.manifest import dump, load
from nbflow.errors import SpecError
from nbflow.model import Task, Template, Workflow
from nbflow.notebook.extract import read_notebook

GOLDEN = Path(__file__).parent / "golden"
# Set NBFLOW_REGEN_GOLDEN=1 to rewrite the golden files after a deliberate change; never in CI.
REGEN = os.environ.get("NBFLOW_REGEN_GOLDEN") == "1"

CASES = [
    ("chain", "chain"),
    ("diamond", "diamond"),
    ("fanout", "fanout"),
    ("options", "options"),
    ("failing", "failing"),
    ("failing", "tolerant"),
]


def _compile(make_notebook: Any, pipeline: str, workflow: str) -> dict[str, Any]:
    spec = read_notebook(make_notebook(pipeline))
    return to_manifest(spec.workflow(workflow))


@pytest.mark.parametrize(("pipeline", "workflow"), CASES)
def test_golden_manifest(
    make_notebook: Any, validate_manifest: Any, pipeline: str, workflow: str
) -> None:
    manifest = _compile(make_notebook, pipeline, workflow)
    text = dump(manifest)
    golden = GOLDEN / f"{workflow}.yaml"
    if REGEN:
        golden.write_text(text)
    assert text == golden.read_text(), (
        f"{golden.name} differs; rerun with NBFLOW_REGEN_GOLDEN=1 if intended"
    )
    validate_manifest(manifest)
    assert load(text) == manifest  # YAML round-trips exactly


def test_compiling_twice_is_byte_identical(make_notebook: Any) -> None:
    first = dump(_compile(make_notebook, "fanout", "fanout"))
    second = dump(_compile(make_notebook, "fanout", "fanout"))
    assert first == second


def _templates(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in manifest["spec"]["templates"]}


def test_fan_out_uses_with_items_and_fan_in_reads_the_key_prefix(make_notebook: Any) -> None:
    m = _compile(make_notebook, "fanout", "fanout")
    tasks = {t["name"]: t for t in _templates(m)["main"]["dag"]["tasks"]}
    assert len(m["spec"]["templates"]) == 4  # main + one per template, not one per item
    items = tasks["featurize"]["withItems"]
    assert [i["shard"] for i in items] == list(range(8)) and [i["_i"] for i in items] == list(
        range(8)
    )
    assert (
        tasks["featurize"]["arguments"]["parameters"][0]["value"]
        == "fanout/{{workflow.name}}/featurize/{{item._i}}"
    )
    (feats,) = tasks["train"]["arguments"]["artifacts"]
    assert feats == {"name": "feats", "s3": {"key": "fanout/{{workflow.name}}/featurize/"}}
    (raw,) = tasks["featurize"]["arguments"]["artifacts"]
    assert raw == {"name": "raw", "from": "{{tasks.extract.outputs.artifacts.raw}}"}


def test_options_compile_to_argo_fields(make_notebook: Any) -> None:
    m = _compile(make_notebook, "options", "options")
    flaky = _templates(m)["flaky"]
    assert flaky["retryStrategy"] == {
        "limit": "3",
        "retryPolicy": "Always",
        "backoff": {"duration": "1s", "factor": "2", "cap": "600s"},
    }
    assert flaky["activeDeadlineSeconds"] == "1800"
    assert flaky["container"]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }
    tasks = {t["name"]: t for t in _templates(m)["main"]["dag"]["tasks"]}
    assert tasks["report"]["when"] == (
        "{{=jsonpath(tasks['score'].outputs.parameters['accuracy'], '$') > 0.9}}"
    )
    assert tasks["fallback"]["continueOn"] == {"failed": True, "error": True}
    assert m["spec"]["onExit"] == "notify-exit"
    score_args = {p["name"]: p["value"] for p in tasks["score"]["arguments"]["parameters"]}
    assert score_args["bonus"] == "0.6"
    params = {p["name"]: p["value"] for p in m["spec"]["arguments"]["parameters"]}
    assert params == {"bonus": "0.5", "title": '"nightly"'}


def test_parameters_are_container_arguments_never_a_shell(make_notebook: Any) -> None:
    m = _compile(make_notebook, "chain", "chain")
    second = _templates(m)["second"]
    assert second["container"]["command"] == ["python", "-m", "nbflow.runner"]
    assert second["container"]["args"] == [
        "--dir",
        "/nbflow",
        "--template",
        "second",
        "-p",
        "scale",
        "{{inputs.parameters.scale}}",
    ]
    for tmpl in m["spec"]["templates"][1:]:
        assert "sh" not in tmpl["container"]["command"] and "script" not in tmpl


def test_step_notebook_is_inlined_and_papermill_ready(make_notebook: Any) -> None:
    m = _compile(make_notebook, "chain", "chain")
    raw = _templates(m)["second"]["inputs"]["artifacts"][0]
    assert raw["name"] == "nbflow-step" and raw["path"] == "/nbflow/step.ipynb"
    nb = json.loads(raw["raw"]["data"])
    tags = [c["metadata"]["tags"][0] for c in nb["cells"]]
    assert tags == [
        "parameters",
        "nbflow-inputs",
        "nbflow-setup",
        "nbflow-template",
        "nbflow-outputs",
    ]
    assert "import math" in "".join(nb["cells"][2]["source"])


def test_user_code_with_braces_travels_as_base64() -> None:
    wf = Workflow(
        "w", templates={"t": Template("t", "msg = '{{not a tag}}'")}, tasks=(Task("t", "t"),)
    )
    raw = to_manifest(wf)["spec"]["templates"][1]["inputs"]["artifacts"][0]["raw"]["data"]
    assert "{{" not in raw
    assert "{{not a tag}}" in base64.b64decode(raw).decode()


def test_run_time_parameters_become_workflow_arguments() -> None:
    t = Template("t", "print(n)", parameters={"n": 1})
    u = Template("u", "print(n)", parameters={"n": 2})
    wf = Workflow("w", templates={"t": t, "u": u}, tasks=(Task("t", "t"), Task("u", "u")))
    m = to_manifest(wf)
    assert "arguments" not in m["spec"]  # defaults disagree: each template keeps its own
    m = to_manifest(
        Workflow("w", templates=wf.templates, tasks=wf.tasks, parameters={"n": 40})
    )
    assert m["spec"]["arguments"]["parameters"] == [{"name": "n", "value": "40"}]
    args = [t["arguments"]["parameters"][1] for t in m["spec"]["templates"][0]["dag"]["tasks"]]
    assert args == [{"name": "n", "value": "{{workflow.parameters.n}}"}] * 2


def test_reserved_template_name() -> None:
    wf = Workflow("w", templates={"main": Template("main")}, tasks=(Task("main", "main"),))
    with pytest.raises(SpecError, match="reserved"):
        to_manifest(wf)


def test_when_on_mapped_output_is_rejected() -> None:
    wf = Workflow(
        "w",
        templates={"m": Template("m", outputs=("v",), parameters={"i": 0}), "r": Template("r")},
        tasks=(
            Task("m", "m", map_items={"i": [1, 2]}),
            Task("r", "r", depends=("m",), when="v > 1"),
        ),
    )
    with pytest.raises(SpecError, match="mapped task 'm'"):
        to_manifest(wf)


def test_golden_files_are_plain_yaml() -> None:
    for path in GOLDEN.glob("*.yaml"):
        assert yaml.safe_load(path.read_text())["kind"] == "Workflow"
