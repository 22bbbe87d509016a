"""Making a Workflow self-contained: loaded objects, workflowTemplateRef, templateRef, inline
templates, templateDefaults and ConfigMap parameters (what ``--load`` gives ``nbflow run``)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from nbflow.argo.hydrate import hydrate, merge_defaults
from nbflow.argo.manifest import load_file
from nbflow.argo.objects import load_objects
from nbflow.errors import ManifestError

LIB = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "lib"},
    "spec": {
        "entrypoint": "say",
        "arguments": {"parameters": [{"name": "m", "value": "from-template"},
                                     {"name": "n", "value": "kept"}]},
        "templates": [
            {"name": "say", "container": {"image": "x", "command": ["echo"]}},
            {"name": "twice", "steps": [[{"name": "a", "template": "say"}]]},
        ],
    },
}


def objects(tmp_path: Path) -> object:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all([
        LIB,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
         "data": {"k": "v"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
         "data": {"t": base64.b64encode(b"tok").decode()}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ignored"}},
    ]))
    return load_objects([tmp_path])


def test_load_reads_every_kind_a_cluster_would_hold(tmp_path: Path) -> None:
    loaded = objects(tmp_path)
    assert loaded.config_maps == {"cm": {"k": "v"}}  # type: ignore[attr-defined]
    assert loaded.secrets == {"s": {"t": "tok"}}  # type: ignore[attr-defined]
    assert loaded.claims == {"pvc"}  # type: ignore[attr-defined]
    assert set(loaded.workflow_templates) == {"lib"}  # type: ignore[attr-defined]


def test_workflow_template_ref_joins_the_specs(tmp_path: Path) -> None:
    wf = {"kind": "Workflow", "metadata": {"name": "w"}, "spec": {
        "workflowTemplateRef": {"name": "lib"},
        "arguments": {"parameters": [{"name": "m", "value": "mine"}]}}}
    out = hydrate(wf, objects(tmp_path))  # type: ignore[arg-type]
    assert out["spec"]["entrypoint"] == "say"
    assert out["spec"]["arguments"]["parameters"] == [
        {"name": "m", "value": "mine"}, {"name": "n", "value": "kept"}]
    assert [t["name"] for t in out["spec"]["templates"]] == ["say", "twice"]


def test_template_refs_and_inline_templates_become_the_workflows_own(tmp_path: Path) -> None:
    own_say = {"name": "say", "script": {"image": "y", "source": "other"}}
    main = {"name": "main", "dag": {"tasks": [
        {"name": "r", "templateRef": {"name": "lib", "template": "twice"}},
        {"name": "i", "inline": {"container": {"image": "z"}}},
    ]}}
    wf = {"kind": "Workflow", "metadata": {"name": "w"},
          "spec": {"entrypoint": "main", "templates": [main, own_say]}}
    out = hydrate(wf, objects(tmp_path))  # type: ignore[arg-type]
    by_name = {t["name"]: t for t in out["spec"]["templates"]}
    tasks = {t["name"]: t for t in by_name["main"]["dag"]["tasks"]}
    assert tasks["r"]["template"] == "twice" and "templateRef" not in tasks["r"]
    # the library's "say" clashes with the workflow's own: it is renamed, and its caller too
    assert by_name["twice"]["steps"][0][0]["template"] == "lib/say"
    assert by_name["lib/say"]["container"]["image"] == "x"
    assert tasks["i"]["template"] == "main/i"
    assert by_name["main/i"]["container"] == {"image": "z"}


def test_a_missing_template_or_object_is_one_clear_error(tmp_path: Path) -> None:
    loaded = objects(tmp_path)
    wf = {"kind": "Workflow", "metadata": {"name": "w"}, "spec": {"entrypoint": "main",
          "templates": [{"name": "main", "steps": [[{"name": "a", "templateRef": {
              "name": "lib", "template": "nope"}}]]}]}}
    with pytest.raises(ManifestError, match="WorkflowTemplate 'lib' has no template 'nope'"):
        hydrate(wf, loaded)  # type: ignore[arg-type]
    wf["spec"]["templates"][0]["steps"][0][0]["templateRef"] = {"name": "x", "clusterScope": True}
    with pytest.raises(ManifestError, match="ClusterWorkflowTemplate 'x' is not loaded"):
        hydrate(wf, loaded)  # type: ignore[arg-type]


def test_template_defaults_apply_where_they_fit() -> None:
    defaults = {"timeout": "30s", "container": {"env": [{"name": "A", "value": "1"}]},
                "script": {"image": "s"}}
    merged = merge_defaults(
        {"name": "t", "container": {"image": "x", "env": [{"name": "B", "value": "2"}]}},
        defaults,
    )
    assert merged["timeout"] == "30s" and "script" not in merged
    assert merged["container"]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert "container" not in merge_defaults({"name": "d", "dag": {"tasks": []}}, defaults)


def test_parameters_from_config_maps(tmp_path: Path) -> None:
    wf = {"kind": "Workflow", "metadata": {"name": "w"}, "spec": {
        "entrypoint": "t",
        "arguments": {"parameters": [{"name": "p", "valueFrom": {"configMapKeyRef": {
            "name": "cm", "key": "k"}}}]},
        "templates": [{"name": "t", "inputs": {"parameters": [{"name": "q", "valueFrom": {
            "configMapKeyRef": {"name": "cm", "key": "k"}}}]}, "container": {"image": "x"}}]}}
    out = hydrate(wf, objects(tmp_path))  # type: ignore[arg-type]
    assert out["spec"]["arguments"]["parameters"][0]["value"] == "v"
    assert out["spec"]["templates"][0]["inputs"]["parameters"][0]["default"] == "v"


def test_a_multi_document_file_gives_its_workflow(tmp_path: Path) -> None:
    path = tmp_path / "both.yaml"
    flow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"generateName": "one-"}, "spec": {}}
    path.write_text(yaml.safe_dump_all([LIB, flow]))
    assert load_file(path)["metadata"] == {"generateName": "one-"}
    path.write_text(yaml.safe_dump_all([flow, {**flow, "metadata": {"name": "two"}}]))
    with pytest.raises(ManifestError, match="choose one with -w NAME"):
        load_file(path)
    assert load_file(path, "two")["metadata"] == {"name": "two"}
