"""Tests of nbflow.handoff: inputs and outputs through a real step directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import nbflow
from nbflow import handoff, marshal
from nbflow.digest import digest_path
from nbflow.errors import MarshalError, NbflowError, SpecError


@pytest.fixture
def step(tmp_path, monkeypatch):
    """A step directory of template ``train``, set in the environment as a step kernel sees it."""
    root = tmp_path / "nbflow"
    (root / "inputs").mkdir(parents=True)
    monkeypatch.setenv("NBFLOW_STEP_DIR", str(root))
    monkeypatch.setenv("NBFLOW_TEMPLATE", "train")
    handoff.reset()
    yield root
    handoff.reset()


def test_save_outputs_writes_artifacts_and_parameters(step):
    frame = pd.DataFrame({"a": [1, 2]})
    namespace = {"accuracy": 0.93, "labels": ["x", "y"], "frame": frame, "unused": 1}
    handoff.save_outputs(namespace, ["accuracy", "labels", "frame"])
    assert marshal.load(step / "outputs" / "accuracy") == 0.93
    assert marshal.load(step / "outputs" / "labels") == ["x", "y"]
    pd.testing.assert_frame_equal(marshal.load(step / "outputs" / "frame"), frame)
    assert (step / "parameters" / "accuracy").read_bytes() == b"0.93"
    assert (step / "parameters" / "labels").read_text() == '["x","y"]'
    assert not (step / "parameters" / "frame").exists()
    assert sorted(p.name for p in (step / "outputs").iterdir()) == ["accuracy", "frame", "labels"]
    assert sorted(p.name for p in (step / "parameters").iterdir()) == ["accuracy", "labels"]


def test_large_json_output_has_no_parameter(step):
    big = list(range(30000))
    handoff.save_outputs({"big": big}, ["big"])
    assert marshal.load(step / "outputs" / "big") == big
    assert not (step / "parameters" / "big").exists()


def test_stale_parameter_is_removed(step):
    handoff.save_outputs({"x": 1}, ["x"])
    assert (step / "parameters" / "x").read_text() == "1"
    handoff.save_outputs({"x": {1, 2}}, ["x"])
    saved = step / "outputs" / "x"
    assert marshal.load(saved, digest=digest_path(saved)) == {1, 2}
    assert not (step / "parameters" / "x").exists()


def test_recorded_output_wins_over_namespace(step, tmp_path):
    report = tmp_path / "report.html"
    report.write_text("<p>done</p>")
    assert nbflow.output("report", report) is report
    assert handoff.output("score", 2) == 2
    handoff.save_outputs({"score": 1, "report": "not this"}, ["report", "score"])
    saved = marshal.load(step / "outputs" / "report")
    assert isinstance(saved, Path) and saved.read_text() == "<p>done</p>"
    assert (step / "parameters" / "score").read_text() == "2"
    assert handoff.recorded() == {}  # forgotten once saved


def test_missing_output_is_an_error(step):
    handoff.output("a", 1)
    with pytest.raises(SpecError, match="^template 'train' did not define its output 'b'"):
        handoff.save_outputs({"c": 3}, ["a", "b"])
    assert not (step / "outputs").exists()  # nothing is saved when an output is missing


def test_unsaveable_output_names_variable_type_and_template(step):
    with pytest.raises(MarshalError, match=r"^output 'fn' of template 'train' \(a function\)"):
        handoff.save_outputs({"fn": lambda: 1}, ["fn"])


def test_invalid_output_name_is_rejected():
    with pytest.raises(SpecError, match="'../x' is not a valid output name"):
        handoff.output("../x", 1)


def test_load_input_single_and_fan_in(step):
    marshal.save({"rows": 3}, step / "inputs" / "raw", name="raw")
    for i in range(3):
        marshal.save(i * 10, step / "inputs" / "shard" / str(i) / "shard", name="shard")
    assert handoff.load_input("raw") == {"rows": 3}
    assert handoff.load_input("shard") == [0, 10, 20]


def test_missing_input_is_an_error(step):
    with pytest.raises(
        MarshalError, match="^input 'raw' of template 'train' is missing from the step directory"
    ):
        handoff.load_input("raw")


def test_outside_a_step_is_an_error(monkeypatch):
    monkeypatch.delenv("NBFLOW_STEP_DIR", raising=False)
    with pytest.raises(NbflowError, match=r"\$NBFLOW_STEP_DIR is not set"):
        handoff.save_outputs({"x": 1}, ["x"])
    with pytest.raises(NbflowError, match=r"\$NBFLOW_STEP_DIR is not set"):
        handoff.load_input("x")


def test_messages_without_a_template_name(step, monkeypatch):
    monkeypatch.delenv("NBFLOW_TEMPLATE")
    with pytest.raises(SpecError, match="^the step did not define its output 'x'"):
        handoff.save_outputs({}, ["x"])
    with pytest.raises(MarshalError, match="^input 'raw' is missing"):
        handoff.load_input("raw")
