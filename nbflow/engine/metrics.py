"""Argo's custom metrics (``metrics.prometheus``) on the local engine, and their Prometheus text.

A template's metrics are evaluated when its node ends, with ``{{status}}``, ``{{duration}}``,
``{{exitCode}}``, ``{{retries}}``, its inputs and outputs (``docs/metrics.md``); the workflow's
when it ends, with ``{{workflow.status}}`` and ``{{workflow.duration}}``. ``realtime`` gauges
follow a running node's (or the workflow's) duration. Gauges keep their last value, counters
add theirs, histograms count observations in their buckets. The run's metrics live in its
record (``status.nbflowMetrics``); :func:`render` writes them in the Prometheus text format.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError
from .nodes import Node, parse_timestamp

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["node_ended", "workflow_ended", "realtime", "has_realtime", "render", "FIELD"]

FIELD = "nbflowMetrics"  # where a run's metrics are kept in its status
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _seconds(node: dict[str, Any], now: Any) -> float:
    if "startedAt" not in node:
        return 0.0
    end = parse_timestamp(node["finishedAt"]) if "finishedAt" in node else now
    return max(0.0, (end - parse_timestamp(node["startedAt"])).total_seconds())


def _node_scope(op: Operator, node: Node, tmpl: dict[str, Any]) -> dict[str, Any]:
    from .variables import pod_variables

    scope = {**op.workflow_scope(), **pod_variables(op, node, tmpl)}
    outputs = node.get("outputs") or {}
    duration = _seconds(node, op.now)
    scope.update({
        "status": node["phase"],
        "duration": f"{duration:f}",
        "exitCode": str(outputs.get("exitCode", "")),
        "resourcesDuration.cpu": str(int(duration)),
        "resourcesDuration.memory": "0",
    })
    for p in outputs.get("parameters") or []:
        scope[f"outputs.parameters.{p['name']}"] = str(p.get("value", ""))
    if "result" in outputs:
        scope["outputs.result"] = outputs["result"]
    return scope


def node_ended(op: Operator, node: Node) -> None:
    """Record the metrics of ``node``'s template, which just ended."""
    tmpl = op.templates.get(node.get("templateName") or "")
    if tmpl and (tmpl.get("metrics") or {}).get("prometheus"):
        _emit(op, tmpl["metrics"]["prometheus"], _node_scope(op, node, tmpl), node["id"])


def workflow_ended(op: Operator, phase: str) -> None:
    """Record the workflow's own metrics at its end."""
    metrics = (op.spec.get("metrics") or {}).get("prometheus")
    if metrics:
        scope = {**op.workflow_scope(), "workflow.status": phase, "status": phase}
        _emit(op, metrics, scope, op.name)


def has_realtime(spec: dict[str, Any]) -> bool:
    """Whether the workflow or a template has a ``realtime`` gauge."""
    blocks = [spec.get("metrics"), *(t.get("metrics") for t in spec.get("templates") or [])]
    return any((m.get("gauge") or {}).get("realtime")
               for block in blocks for m in (block or {}).get("prometheus") or [])


def realtime(op: Operator) -> None:
    """Bring ``realtime`` gauges of running nodes (and of the workflow) up to ``op.now``."""
    def live(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in metrics if (m.get("gauge") or {}).get("realtime")]

    wf_metrics = live((op.spec.get("metrics") or {}).get("prometheus") or [])
    if wf_metrics and not op.done and "startedAt" in op.status:
        _emit(op, wf_metrics, op.workflow_scope(), op.name)
    for node in op.nodes.values():
        tmpl = op.templates.get(node.get("templateName") or "") or {}
        metrics = live((tmpl.get("metrics") or {}).get("prometheus") or [])
        if metrics and node["phase"] == "Running":
            _emit(op, metrics, _node_scope(op, node, tmpl), node["id"])


def _emit(op: Operator, metrics: list[dict[str, Any]], scope: dict[str, Any], who: str) -> None:
    from ..argo.expr import evaluate_when
    from ..argo.subst import substitute

    families = op.status.setdefault(FIELD, {})
    for metric in metrics:
        try:
            if metric.get("when") and not evaluate_when(substitute(metric["when"], scope)):
                continue
            labels = {str(lab["key"]): substitute(str(lab.get("value", "")), scope)
                      for lab in metric.get("labels") or []}
            kind = next(k for k in ("gauge", "counter", "histogram") if k in metric)
            value = float(substitute(str(metric[kind].get("value", "0")), scope))
        except (ManifestError, StopIteration, ValueError):
            continue  # as Argo: a metric that cannot be evaluated is not emitted
        name = str(metric.get("name", ""))
        if not _NAME.fullmatch(name):
            continue
        family = families.setdefault(name, {"help": metric.get("help", ""), "type": kind,
                                            "series": {}})
        if kind == "histogram":
            family["buckets"] = sorted(float(b) for b in metric[kind].get("buckets") or [])
        _observe(family, json.dumps(labels, sort_keys=True), value, metric[kind])
    op.changed.append(who)


def _observe(family: dict[str, Any], key: str, value: float, spec: dict[str, Any]) -> None:
    series = family["series"]
    if family["type"] == "gauge":
        series[key] = value
    elif family["type"] == "counter":
        series[key] = series.get(key, 0.0) + value
    else:
        h = series.setdefault(key, {"counts": [0] * len(family["buckets"]), "sum": 0.0,
                                    "count": 0})
        for i, bound in enumerate(family["buckets"]):
            if value <= bound:
                h["counts"][i] += 1
        h["sum"] += value
        h["count"] += 1


def _labels(key: str, extra: dict[str, str] | None = None) -> str:
    labels = {**json.loads(key), **(extra or {})}
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(status: dict[str, Any]) -> str:
    """A run's metrics in the Prometheus text exposition format (0.0.4)."""
    lines: list[str] = []
    for name, family in sorted((status.get(FIELD) or {}).items()):
        if family.get("help"):
            lines.append(f"# HELP {name} {_escape(family['help'])}")
        lines.append(f"# TYPE {name} {family['type']}")
        for key, value in sorted(family["series"].items()):
            if family["type"] != "histogram":
                lines.append(f"{name}{_labels(key)} {_number(value)}")
                continue
            for bound, count in zip(family["buckets"], value["counts"]):
                lines.append(f"{name}_bucket{_labels(key, {'le': _number(bound)})} {count}")
            lines.append(f"{name}_bucket{_labels(key, {'le': '+Inf'})} {value['count']}")
            lines.append(f"{name}_sum{_labels(key)} {_number(value['sum'])}")
            lines.append(f"{name}_count{_labels(key)} {value['count']}")
    return "\n".join(lines) + ("\n" if lines else "")
