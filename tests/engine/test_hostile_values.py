"""User values are data wherever they go: task arguments, -p, defaults, .map items and the
outputs a .when() condition reads reach the steps byte for byte, locally and in the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook

HOSTILE = ["{{workflow.name}}", "{{=sprig.repeat(3,'ab')}}", "{{", "a}}b{{c"]

pytestmark = pytest.mark.kernel


def test_hostile_values_reach_the_step_byte_for_byte(
    make_notebook: Any, nbflow_home: Path, validate_manifest: Any
) -> None:
    cells = [
        "%%template echo --outputs seen --param s='' --param d='{{'\nseen = [s, d]",
        "%%template each --outputs one --param item=''\none = item",
        "%%template collect --inputs seen,one --outputs all\nall = {'seen': seen, 'one': one}",
        "%%workflow hostile\n"
        f"echo(s={HOSTILE[0]!r}) >> each.map(item={HOSTILE!r}) >> collect",
    ]
    path = make_notebook(cells)
    wf = read_notebook(path).workflow("hostile")
    manifest = api.compile_workflow(wf, base_dir=path.parent)
    validate_manifest(manifest)
    assert "{{workflow.name}}\"" not in json.dumps(manifest)  # no argument is a live tag
    run = api.run_workflow(wf, config=load_config(), workdir=path.parent, base_dir=path.parent)
    assert run.phase == "Succeeded", run.report()
    out = run.outputs("collect")["all"]
    assert out["seen"] == [HOSTILE[0], "{{"]  # a task argument, and a template default
    assert out["one"] == HOSTILE  # .map items, in order


def test_a_workflow_parameter_holding_tags_is_data(make_notebook: Any, nbflow_home: Path) -> None:
    cells = ["%%template echo --outputs seen --param s=''\nseen = s", "%%workflow w\necho"]
    path = make_notebook(cells)
    wf = read_notebook(path).workflow("w")
    hostile = "{{=sprig.repeat(3,'ab')}} {{"
    run = api.run_workflow(wf, parameters={"s": hostile}, workdir=path.parent)
    assert run.phase == "Succeeded", run.report()
    assert run.outputs("echo")["seen"] == hostile


@pytest.mark.parametrize(
    ("mode", "runs"),
    [("production", True), ("x' == 'x' || 'a", False), ('x" == "x" || "a', False), ("}}", False)],
)
def test_when_reads_upstream_outputs_as_values(
    make_notebook: Any, nbflow_home: Path, mode: str, runs: bool
) -> None:
    cells = [
        f"%%template decide --outputs mode\nmode = {mode!r}",
        "%%template deploy\nprint('deployed')",
        "%%workflow gate\ndecide >> deploy.when('mode == \"production\"')",
    ]
    path = make_notebook(cells)
    run = api.run_workflow(read_notebook(path).workflow("gate"), workdir=path.parent)
    assert run.phase == "Succeeded", run.report()
    assert run.tasks()["deploy"] == ("Succeeded" if runs else "Skipped")
