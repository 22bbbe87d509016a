"""Tests for Argo's ``{{...}}`` template substitution."""

from __future__ import annotations

import copy

import pytest

from nbflow.argo.subst import (
    find_expressions,
    find_tags,
    scope_variables,
    substitute,
    substitute_obj,
)
from nbflow.errors import ManifestError

SCOPE = {
    "inputs.parameters.x": "4",
    "inputs.parameters.my-p": "dash",
    "inputs.parameters": '[{"name":"x","value":"4"}]',
    "tasks.a.outputs.result": '{"n": 3, "xs": [1, 2]}',
    "tasks.my-task.outputs.parameters.p": "v",
    "tasks.my-task.outputs.result": "r",
    "item": '{"k":"v"}',
    "item.k": "v",
    "workflow.name": "wf-abc",
    "workflow.parameters.p": "P",
    "retries": "2",
    "templ": "{{workflow.name}}",
}


@pytest.mark.parametrize(
    ("text", "tags", "expressions"),
    [
        ("no tags here", [], []),
        ("{{ inputs.parameters.x }}", ["inputs.parameters.x"], []),
        ("{{item}}-{{item.k}}-{{item}}", ["item", "item.k"], []),
        ("a {{=1 + 1}} b {{ workflow.name}}", ["workflow.name"], ["1 + 1"]),
        ("{{= toJson(x) }}{{=y}}", [], ["toJson(x)", "y"]),
        ("{ single } braces", [], []),
    ],
)
def test_find_tags_and_expressions(text: str, tags: list[str], expressions: list[str]) -> None:
    assert find_tags(text) == tags
    assert find_expressions(text) == expressions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        ("{{inputs.parameters.x}}", "4"),
        ("{{ inputs.parameters.x }}", "4"),
        ("x={{inputs.parameters.x}}, wf={{workflow.name}}", "x=4, wf=wf-abc"),
        ("{{inputs.parameters}}", '[{"name":"x","value":"4"}]'),
        ("{{item}} {{item.k}}", '{"k":"v"} v'),
        ("{{tasks.my-task.outputs.result}}", "r"),
        ("attempt {{retries}}", "attempt 2"),
        # one pass only: a value holding a tag is not expanded again
        ("{{templ}}", "{{workflow.name}}"),
        # expression tags
        ("{{=asInt(inputs.parameters.x) + 1}}", "5"),
        ("{{= inputs.parameters.x + 'b' }}", "4b"),
        ("{{=inputs.parameters['my-p']}}", "dash"),
        ("{{=tasks['my-task'].outputs.parameters.p}}", "v"),
        ("{{=asFloat(inputs.parameters.x) / 8}}", "0.5"),
        ("{{=asFloat('6') / 2}}", "3"),
        ("{{=asInt(retries) > 1}}", "true"),
        ("{{=toJson([1, 2])}}", "[1,2]"),
        ("{{=[1, 'a']}}", '[1,"a"]'),
        ("{{=sprig.list('a')}}", '["a"]'),
        ("{{= {b: 1, a: 2} }}", '{"a":2,"b":1}'),
        ("{{=workflow.parameters.q ?? 'fb'}}", "fb"),
        ("{{=workflow.parameters.p ?? 'fb'}}", "P"),
        # a key that is also a prefix gives way to the nested map: item is {k: v} here
        ("{{=item.k}}", "v"),
        ("{{=toJson(item)}}", '{"k":"v"}'),
        ("{{=jsonpath(tasks.a.outputs.result, '$.n')}}", "3"),
        ("{{=jsonpath(tasks.a.outputs.result, '$.xs[1]') * 2}}", "4"),
        ("{{=sprig.replace('-', '_', workflow.name)}}", "wf_abc"),
        ("n={{=1+1}} and {{inputs.parameters.x}}", "n=2 and 4"),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    assert substitute(text, SCOPE) == expected


def test_substitute_writes_non_string_values_as_argo_text() -> None:
    assert substitute("{{n}} {{f}} {{b}} {{l}}", {"n": 3, "f": 2.0, "b": True, "l": [1]}) == (
        "3 2 true [1]")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{nope}}", "failed to resolve {{nope}}"),
        ("a {{ nope }} b", "failed to resolve {{ nope }}"),
        ("{{inputs.parameters.x", "cannot find end tag '}}' for the '{{' at offset 0"),
        ("ok {{x}} {{", "failed to resolve {{x}}"),
        ("{{=nope}}", "failed to evaluate expression 'nope': the result is nil"),
        ("{{=1 +}}", "failed to evaluate expression '1 +': unexpected end of expression"),
        ("{{=foo(1)}}", "unknown function foo()"),
        ("{{=asFloat('NaN')}}", "json: unsupported value: nan (expression 'asFloat('NaN')')"),
        # like Argo, a tag ends at the first '}}': a map literal needs a space before it
        ("{{={a: 1}}}", "failed to evaluate expression '{a: 1': unexpected end of expression"),
    ],
)
def test_substitute_errors(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        substitute(text, SCOPE, where="template t")
    assert str(info.value).startswith("template t: ")
    assert message in str(info.value)


@pytest.mark.parametrize("value", [None, float("nan")])
def test_substitute_rejects_values_without_text(value: object) -> None:
    with pytest.raises(ManifestError) as info:
        substitute("{{v}}", {"v": value}, where="w")
    assert str(info.value) == "w: failed to resolve {{v}} to string"


def test_missing_tag_message_is_argos() -> None:
    with pytest.raises(ManifestError) as info:
        substitute("{{inputs.parameters.y}}", SCOPE)
    assert str(info.value) == "failed to resolve {{inputs.parameters.y}}"


def test_unclosed_tag_in_find_tags() -> None:
    with pytest.raises(ManifestError, match="cannot find end tag"):
        find_tags("{{ a }} {{ b", where="w")


def test_substitute_obj() -> None:
    obj = {
        "name": "{{workflow.name}}",
        "{{item.k}}": ["{{inputs.parameters.x}}", 3, None, True, ("{{=1+1}}",)],
        "nested": {"args": ["--x", "{{= asInt(inputs.parameters.x) * 2 }}"]},
    }
    before = copy.deepcopy(obj)
    result = substitute_obj(obj, SCOPE)
    assert result == {
        "name": "wf-abc",
        "v": ["4", 3, None, True, ("2",)],
        "nested": {"args": ["--x", "8"]},
    }
    assert obj == before  # the input is left alone


def test_substitute_obj_error_names_where() -> None:
    with pytest.raises(ManifestError) as info:
        substitute_obj({"a": ["{{nope}}"]}, SCOPE, where="task t")
    assert str(info.value) == "task t: failed to resolve {{nope}}"


@pytest.mark.parametrize(
    ("scope", "variables"),
    [
        ({}, {}),
        ({"a": "1"}, {"a": "1"}),
        ({"a.b.c": "1", "a.d": "2"}, {"a": {"b": {"c": "1"}, "d": "2"}}),
        ({"a.b": "x", "a.b.c": "1"}, {"a": {"b": {"c": "1"}}}),
        ({"tasks.my-task.outputs.result": "r"},
         {"tasks": {"my-task": {"outputs": {"result": "r"}}}}),
        # "item" is not a prefix of "items.x" (Argo's own check would drop it)
        ({"item": "1", "items.x": "2"}, {"item": "1", "items": {"x": "2"}}),
    ],
)
def test_scope_variables(scope: dict[str, str], variables: dict[str, object]) -> None:
    assert scope_variables(scope) == variables
