"""Argo-style manifests run end to end with --host-exec; every node's phase as Argo would set it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.argo.manifest import load_file
from nbflow.config import load_config

CASES = sorted((Path(__file__).parent.parent / "conformance").glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_conformance(path: Path, nbflow_home: Path, tmp_path: Path, validate_manifest: Any) -> None:
    manifest = load_file(path)
    validate_manifest(manifest)
    expect = json.loads(manifest["metadata"]["annotations"]["nbflow.io/expect"])
    run = api.run_workflow(
        manifest, config=load_config(cache=False), workdir=tmp_path, host_exec=True
    )
    by_name = {n["displayName"]: n for n in run.nodes.values()}
    phases = {name: by_name[name]["phase"] if name in by_name else None for name in expect["nodes"]}
    assert phases == expect["nodes"], run.summary()
    for name, message in expect.get("messages", {}).items():
        assert by_name[name].get("message") == message
    for name, result in expect.get("results", {}).items():
        node = by_name[name]
        pods = [node] if node["type"] == "Pod" else [run.nodes[k] for k in node.get("children", [])]
        assert (pods[-1].get("outputs") or {}).get("result") == result
    assert run.phase == expect["workflow"], run.summary()
