"""Variables visible to ``{{...}}`` tags in a workflow, resolved on demand from ``status.nodes``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..vocab import NodeType

Node = dict[str, Any]


class Scope(Mapping[str, Any]):
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

    def fix(self, key: str, value: Any) -> None:
        """Add one more value known up front."""
        self._fixed[key] = value
        self._expanded = None

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


def node_scope(
    prefix: str,
    nodes: Mapping[str, Node],
    node: Node,
    templates: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Tags describing one node: ``<prefix>.status``, ``.id``, ``.exitCode``, outputs.

    A Skipped or Omitted producer has no outputs: only the ``valueFrom.default`` its template
    declares for an output parameter is given; the others are absent (not empty), so that a
    consumer's input default or an expression's ``??`` applies (``docs/variables.md``).
    Artifacts are given as values, for ``fromExpression`` and ``from``.
    """
    out: dict[str, Any] = {f"{prefix}.status": node["phase"], f"{prefix}.id": node["id"]}
    for key in ("startedAt", "finishedAt"):
        if key in node:
            out[f"{prefix}.{key}"] = node[key]
    if node.get("hostNodeName"):
        out[f"{prefix}.hostNodeName"] = node["hostNodeName"]
    if node.get("podIP"):
        out[f"{prefix}.ip"] = node["podIP"]
    outputs = node.get("outputs") or {}
    if node.get("type") == NodeType.TASK_GROUP:
        outputs = aggregate_outputs(nodes, node)
    elif node.get("phase") in ("Skipped", "Omitted"):
        outputs = skipped_outputs((templates or {}).get(node.get("templateName") or ""))
    for p in outputs.get("parameters") or []:
        if "value" in p:
            out[f"{prefix}.outputs.parameters.{p['name']}"] = p["value"]
    if "parametersJSON" in outputs:
        out[f"{prefix}.outputs.parameters"] = outputs["parametersJSON"]
    for a in outputs.get("artifacts") or []:
        out[f"{prefix}.outputs.artifacts.{a['name']}"] = a
    if "result" in outputs:
        out[f"{prefix}.outputs.result"] = outputs["result"]
    if "exitCode" in outputs:
        out[f"{prefix}.outputs.exitCode"] = outputs["exitCode"]
        out[f"{prefix}.exitCode"] = outputs["exitCode"]
    return out


def skipped_outputs(template: dict[str, Any] | None) -> dict[str, Any]:
    """The outputs a Skipped or Omitted node of ``template`` gives: its declared defaults."""
    params = [
        {"name": p["name"], "value": str(p["valueFrom"]["default"])}
        for p in ((template or {}).get("outputs") or {}).get("parameters") or []
        if "default" in (p.get("valueFrom") or {})
    ]
    return {"parameters": params} if params else {}


def aggregate_outputs(nodes: Mapping[str, Node], group: Node) -> dict[str, Any]:
    """Outputs of an expanded task or step, as Argo aggregates them over the items that
    succeeded (``processAggregateNodeOutputs``): ``outputs.parameters`` is a JSON list of each
    item's parameters, ``outputs.parameters.<name>`` a JSON list of the values (parsed when
    every value is a JSON list or object, else strings) and ``outputs.result`` a JSON list of
    the results."""
    values: dict[str, list[str]] = {}
    maps: list[dict[str, str]] = []
    results: list[Any] = []
    for kid in group.get("children") or []:
        node = nodes[kid]
        outputs = node.get("outputs") or {}
        if node["phase"] != "Succeeded" or not outputs:
            continue
        params = {p["name"]: str(p.get("value", "")) for p in outputs.get("parameters") or []}
        own = {k: v for k, v in params.items() if not k.startswith("nbflow-")}
        if own:  # nbflow's own (nbflow-digests) are aggregated by name, not in the maps
            maps.append(own)
        for name, value in params.items():
            values.setdefault(name, []).append(value)
        if "result" in outputs:
            results.append(_json_or_text(outputs["result"]))
    params_out = [{"name": k, "value": _value_list(v)} for k, v in values.items()]
    out: dict[str, Any] = {"parametersJSON": json.dumps(maps, separators=(",", ":"))}
    if params_out:
        out["parameters"] = params_out
    out["result"] = json.dumps(results, separators=(",", ":"))
    return out


def _value_list(values: list[str]) -> str:
    parsed = [_json_or_text(v) for v in values]
    if all(isinstance(v, (list, dict)) for v in parsed):
        return json.dumps(parsed, separators=(",", ":"))
    return json.dumps(values, separators=(",", ":"))


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
