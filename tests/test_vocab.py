"""Tests of the vocabulary module: phases, node types and their sets behave as Argo's strings."""

from __future__ import annotations

import json

import pytest

from nbflow.vocab import (
    BOUNDARY_TYPES,
    COMPLETED,
    FAILED,
    FULFILLED,
    GROUP_TYPES,
    NodeType,
    Phase,
)


def test_phase_values_are_argo_strings() -> None:
    assert Phase.SUCCEEDED == "Succeeded"
    assert str(Phase.OMITTED) == "Omitted"
    assert json.dumps({"phase": Phase.ERROR}) == '{"phase": "Error"}'
    assert Phase("Failed") is Phase.FAILED


@pytest.mark.parametrize(
    ("phase", "completed", "fulfilled", "failed"),
    [
        ("Pending", False, False, False),
        ("Running", False, False, False),
        ("Succeeded", True, True, False),
        ("Failed", True, True, True),
        ("Error", True, True, True),
        ("Skipped", False, True, False),
        ("Omitted", False, True, False),
    ],
)
def test_phase_helpers_follow_argo(
    phase: str, completed: bool, fulfilled: bool, failed: bool
) -> None:
    # Argo's Completed() and Fulfilled() (workflow_types.go), and nbflow's "failed" (Failed|Error)
    assert Phase(phase).completed is completed
    assert Phase(phase).fulfilled is fulfilled
    assert Phase(phase).failed is failed
    # the sets answer for the plain strings of node records too
    assert (phase in COMPLETED, phase in FULFILLED, phase in FAILED) == (
        completed,
        fulfilled,
        failed,
    )


def test_node_types_are_argo_strings() -> None:
    assert NodeType.TASK_GROUP == "TaskGroup" and str(NodeType.STEP_GROUP) == "StepGroup"
    assert "DAG" in BOUNDARY_TYPES and "Steps" in BOUNDARY_TYPES and "Pod" not in BOUNDARY_TYPES
    assert {"TaskGroup", "StepGroup"} <= GROUP_TYPES and "Retry" not in GROUP_TYPES
