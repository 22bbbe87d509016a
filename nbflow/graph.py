"""Task graphs on the standard library's ``graphlib``: one dependency order, one cycle message.

The pipeline model, the engine's DAG plans, nested DAGs and pruned cluster submissions all order
tasks and find cycles here. Graphs are mappings from a node to the nodes it depends on; a cycle
is reported as its path in the direction data flows, ``dependency cycle: a >> b >> a``, the way
``nbflow lint`` prints it. Standard library only, below the model: every layer may use it.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import CycleError

__all__ = ["order", "find_cycle", "unknown"]

Graph = Mapping[str, Iterable[str]]


def _sorter(deps: Graph) -> graphlib.TopologicalSorter[str]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node, ups in deps.items():
        sorter.add(node, *ups)
    return sorter


def order(
    deps: Graph, *, rank: Callable[[str], Any] | None = None, where: str | None = None
) -> list[str]:
    """The nodes of ``deps`` in an order where each comes after the nodes it depends on.

    Among nodes ready at the same time, the lowest ``rank`` comes first (default: the order of
    ``deps``), so the order is deterministic and follows the definition where it can.

    Raises
    ------
    CycleError
        When the graph has a cycle; ``where`` says where the graph comes from.
    """
    position = {node: i for i, node in enumerate(deps)}
    key = rank or (lambda node: position.get(node, len(position)))
    sorter = _sorter(deps)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise CycleError(list(exc.args[1]), where) from None
    ready = [(key(n), n) for n in sorter.get_ready()]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        _, node = heapq.heappop(ready)
        out.append(node)
        sorter.done(node)
        for nxt in sorter.get_ready():
            heapq.heappush(ready, (key(nxt), nxt))
    return out


def find_cycle(deps: Graph) -> list[str] | None:
    """A cycle of ``deps`` as a path that starts and ends with the same node, in the direction
    data flows (each node feeds the next), or ``None``."""
    try:
        _sorter(deps).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def unknown(deps: Graph) -> list[tuple[str, str]]:
    """``(node, dependency)`` pairs whose dependency is not a node of ``deps``."""
    return [(node, up) for node, ups in deps.items() for up in ups if up not in deps]
