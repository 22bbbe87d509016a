"""Outputs that the operator works out itself: those of ``dag`` and ``steps`` templates (from
their tasks' or steps' outputs: ``valueFrom.parameter``, ``valueFrom.expression``, artifact
``from`` and ``fromExpression``), and the workflow's global outputs (``globalName``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError
from .nodes import Node

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["template_outputs", "export_globals"]


def template_outputs(tmpl: dict[str, Any], scope: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs a ``dag``/``steps`` template declares, resolved in its ``scope``.

    An output parameter whose reference is absent or whose expression fails takes its
    ``valueFrom.default``; without one, that is an error (``docs/variables.md``).
    """
    from ..argo.expr import argo_text, evaluate_expr
    from ..argo.subst import scope_variables, substitute

    declared = tmpl.get("outputs") or {}
    where = f"template {tmpl['name']}, outputs"
    variables: dict[str, Any] | None = None
    params = []
    for p in declared.get("parameters") or []:
        source = p.get("valueFrom") or {}
        value: Any = None
        try:
            if "parameter" in source:
                value = substitute(str(source["parameter"]), scope, where=where)
            elif "expression" in source:
                variables = variables if variables is not None else scope_variables(scope)
                value = evaluate_expr(str(source["expression"]), variables, where=where)
            elif "value" in p:
                value = substitute(str(p["value"]), scope, where=where)
        except ManifestError:
            if "default" not in source:
                raise
        if value is None and "default" in source:
            value = source["default"]
        if value is None:
            raise ManifestError(f"output parameter {p['name']!r} has no value", where)
        params.append({"name": p["name"], "value": argo_text(value)})
    arts = []
    for a in declared.get("artifacts") or []:
        found = _artifact(a, scope, where)
        if found is not None:
            arts.append({**found, "name": a["name"]})
        elif not a.get("optional"):
            raise ManifestError(f"output artifact {a['name']!r} has no value", where)
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = params
    if arts:
        out["artifacts"] = arts
    return out


def _artifact(a: dict[str, Any], scope: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    from ..argo.expr import evaluate_expr
    from ..argo.subst import scope_variables

    if "fromExpression" in a:
        value = evaluate_expr(str(a["fromExpression"]), scope_variables(scope), where=where)
    elif "from" in a:
        ref = str(a["from"]).strip().removeprefix("{{").removesuffix("}}").strip()
        value = scope.get(ref)
    else:
        return None
    if value is not None and not isinstance(value, dict):
        raise ManifestError(f"output artifact {a['name']!r} is not an artifact", where)
    return {k: v for k, v in (value or {}).items() if k != "path"} or None


def export_globals(op: Operator, node: Node, tmpl: dict[str, Any]) -> None:
    """Publish the node's outputs that its template gives a ``globalName`` as the workflow's
    outputs (``workflow.outputs.parameters.<name>``, ``...artifacts.<name>``)."""
    declared = tmpl.get("outputs") or {}
    produced = node.get("outputs") or {}
    outputs = op.status.setdefault("outputs", {})
    for kind in ("parameters", "artifacts"):
        values = {x["name"]: x for x in produced.get(kind) or []}
        for d in declared.get(kind) or []:
            if not d.get("globalName") or d["name"] not in values:
                continue
            item = {**values[d["name"]], "name": d["globalName"]}
            if kind == "parameters" and "value" not in item:
                continue
            rest = [x for x in outputs.get(kind) or [] if x["name"] != d["globalName"]]
            outputs[kind] = [*rest, item]
    if not outputs:
        op.status.pop("outputs")
