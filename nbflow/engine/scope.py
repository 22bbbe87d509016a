"""Variables visible to ``{{...}}`` tags in a workflow, resolved on demand from ``status.nodes``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..vocab import NodeType

Node = dict[str, Any]


class Scope(Mapping[str, str]):
    """A read-only mapping of tag names to values that computes entries when asked.

    Parameters
    ----------
    fixed : dict
        Values known up front (``workflow.name``, ``inputs.parameters.x``, ``item``...).
    lookup : callable, optional
        Called with a tag name that ``fixed`` lacks; returns its value or ``None``.
    expand : callable, optional
        Every value ``lookup`` can give, computed only when the scope is enumerated (an
        expression tag sees all variables, e.g. ``tasks['a'].outputs.parameters['x']``).
    """

    def __init__(
        self,
        fixed: dict[str, str],
        lookup: Callable[[str], str | None] | None = None,
        expand: Callable[[], dict[str, str]] | None = None,
    ):
        self._fixed = fixed
        self._lookup = lookup
        self._expand = expand
        self._expanded: dict[str, str] | None = None
        self._cache: dict[str, str | None] = {}

    def __getitem__(self, key: str) -> str:
        if key in self._fixed:
            return self._fixed[key]
        if self._lookup is None:
            raise KeyError(key)
        if key not in self._cache:
            self._cache[key] = self._lookup(key)
        value = self._cache[key]
        if value is None:
            raise KeyError(key)
        return value

    def _all(self) -> dict[str, str]:
        if self._expanded is None:
            extra = self._expand() if self._expand is not None else {}
            self._expanded = {**extra, **self._fixed}
        return self._expanded

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True


def item_scope(item: Any) -> dict[str, str]:
    """``item`` and ``item.<key>`` entries for one ``withItems``/``withParam`` element."""
    out = {"item": as_text(item)}
    if isinstance(item, dict):
        out.update({f"item.{k}": as_text(v) for k, v in item.items()})
    return out


def as_text(value: Any) -> str:
    """How Argo renders a value into a tag: strings raw, numbers plain, the rest JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, separators=(",", ":"))


def node_scope(prefix: str, nodes: Mapping[str, Node], node: Node) -> dict[str, str]:
    """Tags describing one finished node: ``<prefix>.status``, ``.id``, outputs."""
    out = {f"{prefix}.status": node["phase"], f"{prefix}.id": node["id"]}
    for key in ("startedAt", "finishedAt"):
        if key in node:
            out[f"{prefix}.{key}"] = node[key]
    outputs = node.get("outputs") or {}
    if node.get("type") == NodeType.TASK_GROUP:
        outputs = aggregate_outputs(nodes, node)
    for p in outputs.get("parameters") or []:
        if "value" in p:
            out[f"{prefix}.outputs.parameters.{p['name']}"] = p["value"]
    if "result" in outputs:
        out[f"{prefix}.outputs.result"] = outputs["result"]
    if "exitCode" in outputs:
        out[f"{prefix}.outputs.exitCode"] = outputs["exitCode"]
    return out


def aggregate_outputs(nodes: Mapping[str, Node], group: Node) -> dict[str, Any]:
    """Outputs of an expanded task: each parameter as a JSON array of every item's value."""
    values: dict[str, list[Any]] = {}
    for kid in group.get("children") or []:
        for p in (nodes[kid].get("outputs") or {}).get("parameters") or []:
            values.setdefault(p["name"], []).append(_json_or_text(p.get("value", "")))
    params = [{"name": k, "value": json.dumps(v, separators=(",", ":"))} for k, v in values.items()]
    return {"parameters": params} if params else {}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
