"""How an expanded task's outputs are aggregated for its consumers (``tasks.X.outputs...``)."""

from __future__ import annotations

import json

from nbflow.engine.scope import aggregate_outputs
from nbflow.vocab import NodeType


def _items(*phases_and_params: tuple[str, dict[str, str]]) -> tuple[dict, dict]:
    nodes = {}
    for i, (phase, params) in enumerate(phases_and_params):
        nodes[f"i{i}"] = {
            "id": f"i{i}",
            "phase": phase,
            "outputs": {"parameters": [{"name": k, "value": v} for k, v in params.items()]},
        }
    group = {"id": "g", "type": NodeType.TASK_GROUP, "children": list(nodes)}
    return nodes, group


def test_nbflow_digests_are_aggregated_by_name_but_not_in_the_parameter_maps() -> None:
    nodes, group = _items(
        ("Succeeded", {"n": "1", "nbflow-digests": '{"x": "sha256:a"}'}),
        ("Succeeded", {"n": "2", "nbflow-digests": '{"x": "sha256:b"}'}),
    )
    out = aggregate_outputs(nodes, group)
    by_name = {p["name"]: json.loads(p["value"]) for p in out["parameters"]}
    assert by_name["nbflow-digests"] == [{"x": "sha256:a"}, {"x": "sha256:b"}]
    assert by_name["n"] == ["1", "2"]
    assert json.loads(out["parametersJSON"]) == [{"n": "1"}, {"n": "2"}]


def test_only_succeeded_items_are_aggregated() -> None:
    nodes, group = _items(("Succeeded", {"n": "1"}), ("Failed", {"n": "2"}))
    out = aggregate_outputs(nodes, group)
    assert json.loads(out["parameters"][0]["value"]) == ["1"]
