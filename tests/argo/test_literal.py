"""Parameter values stay data: their JSON text holds no tag, and reads back byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbflow.argo.literal import encode_value
from nbflow.argo.subst import substitute

HOSTILE = [
    "{{workflow.name}}",
    "{{=sprig.repeat(3,'ab')}}",
    "{{",
    "}}",
    "a}}b{{c{{{d",
    "{{{{",
    "\\u007b\\u007b",  # the escape itself, as text
    {"k": "{{inputs.parameters.x}}", "l": [{"m": "}}{{"}]},
    ["{{", "}}", 1, None, True],
]


@pytest.mark.parametrize("value", HOSTILE)
def test_encoded_values_hold_no_tag_and_decode_exactly(value: Any) -> None:
    text = encode_value(value)
    assert "{{" not in text
    assert json.loads(text) == value
    # what Argo (and the local engine) does to a task argument leaves it as it is
    assert substitute(text, {"workflow.name": "run-x"}) == text


def test_plain_values_are_the_compact_sorted_json_they_always_were() -> None:
    assert encode_value({"b": 1, "a": [1.5, "x"]}) == '{"a":[1.5,"x"],"b":1}'
    assert encode_value("text") == '"text"'
