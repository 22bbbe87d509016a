"""Tests of the task-graph helpers: dependency order, cycles named by their path."""

from __future__ import annotations

import pytest

from nbflow.errors import CycleError
from nbflow.graph import find_cycle, order, unknown


def test_order_puts_dependencies_first_and_keeps_the_definition_order_among_ties() -> None:
    deps = {"d": ("b", "c"), "c": ("a",), "b": ("a",), "a": ()}
    assert order(deps) == ["a", "c", "b", "d"]  # c before b: c was defined first
    assert order(deps, rank=lambda n: n) == ["a", "b", "c", "d"]


def test_order_of_a_long_chain_defined_backwards() -> None:
    deps = {f"t{i}": ((f"t{i - 1}",) if i else ()) for i in reversed(range(300))}
    assert order(deps) == [f"t{i}" for i in range(300)]


def test_find_cycle_names_the_path_in_data_flow_order() -> None:
    assert find_cycle({"a": (), "b": ("a",)}) is None
    cycle = find_cycle({"a": ("c",), "b": ("a",), "c": ("b",)})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    deps = {"a": ("c",), "b": ("a",), "c": ("b",)}
    for up, down in zip(cycle, cycle[1:]):
        assert up in deps[down]  # each node feeds the next


def test_order_refuses_a_cycle_with_the_one_message() -> None:
    with pytest.raises(CycleError) as info:
        order({"a": ("b",), "b": ("a",), "c": ()}, where="template main")
    assert info.value.path in (["a", "b", "a"], ["b", "a", "b"])
    assert str(info.value) == f"template main: dependency cycle: {' >> '.join(info.value.path)}"


def test_unknown_dependencies_are_listed() -> None:
    assert unknown({"a": ("x",), "b": ("a",)}) == [("a", "x")]
