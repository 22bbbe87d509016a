"""Retry nodes for the operator: attempts, retry policies, backoff, ``expression``.

A template with ``retryStrategy`` runs as a ``Retry`` node whose children are the attempts
``name(0)``, ``name(1)``, ... (``workflow/controller/operator.go`` ``processNodeRetries``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..model.values import parse_duration
from ..vocab import FAILED, NodeType, Phase
from .nodes import Node, parse_timestamp

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["execute_retry", "TRANSIENT"]

# Messages Argo's OnTransientError treats as transient (or $TRANSIENT_ERROR_PATTERN). An nbflow
# step whose kernel died (its typed end, see nbflow.outcome) is transient too: the local
# equivalent of an evicted or OOM-killed pod.
TRANSIENT = (
    r"exceeded quota|pod deleted|connection refused|connection reset|i/o timeout|"
    r"broken pipe|no such host|too many requests"
)


def execute_retry(
    op: Operator,
    node: Node | None,
    name: str,
    display: str,
    tmpl: dict[str, Any],
    args: dict[str, Any],
    boundary: str | None,
) -> Node:
    """Create or advance the Retry node ``name``: start the next attempt when one is due."""
    if node is None:
        node = op.create(name, display, NodeType.RETRY, Phase.RUNNING, boundary=boundary)
        node["children"] = []
    kids = [op.nodes[k] for k in node["children"]]
    if kids and not Phase(kids[-1]["phase"]).fulfilled:
        return node
    if kids and kids[-1]["phase"] == "Succeeded":
        if kids[-1].get("outputs"):
            node["outputs"] = kids[-1]["outputs"]
        op.mark(node, Phase.SUCCEEDED)
        return node
    if kids and not _should_retry(op, node, tmpl, kids):
        return node
    if kids and op.halted(name):
        op.mark(node, Phase(kids[-1]["phase"]), kids[-1].get("message"))
        return node
    n = len(kids)
    attempt = op.execute(
        f"{name}({n})", f"{display}({n})", tmpl["name"], args, boundary, attempt=True
    )
    if attempt["id"] not in node["children"]:
        node["children"].append(attempt["id"])
        node.pop("message", None)
    return node


def _should_retry(op: Operator, node: Node, tmpl: dict[str, Any], kids: list[Node]) -> bool:
    """Decide after a failed attempt: fail the Retry node, wait (backoff), or go on."""
    strategy = tmpl["retryStrategy"]
    last = kids[-1]
    policy = strategy.get("retryPolicy") or (
        "Always" if strategy.get("expression") else "OnFailure"
    )
    retryable = {
        "Always": FAILED,
        "OnFailure": ("Failed",),
        "OnError": ("Error",),
        "OnTransientError": FAILED if _transient(op, last) else (),
    }.get(policy, ())
    limit = strategy.get("limit")
    if last["phase"] not in retryable:
        op.mark(node, Phase(last["phase"]), last.get("message"))
        return False
    if limit is not None and len(kids) > int(limit):
        op.mark(node, Phase(last["phase"]), "No more retries left")
        return False
    if strategy.get("expression") and not _expression_allows(strategy["expression"], last):
        op.mark(node, Phase(last["phase"]), "retryStrategy.expression evaluated to false")
        return False
    backoff = strategy.get("backoff") or {}
    if not backoff or limit is None:  # Argo applies backoff only with a limit (#9425)
        return True
    wait = parse_duration(backoff["duration"])
    factor = int(backoff.get("factor") or 0)
    if factor > 0:
        wait *= factor ** (len(kids) - 1)
    if backoff.get("cap"):
        wait = min(wait, parse_duration(backoff["cap"]))
    ready = parse_timestamp(last["finishedAt"]) + timedelta(seconds=wait)
    if backoff.get("maxDuration"):
        deadline = parse_timestamp(kids[0]["startedAt"]) + timedelta(
            seconds=parse_duration(backoff["maxDuration"])
        )
        if ready > deadline:
            op.mark(node, Phase(last["phase"]), "Backoff would exceed max duration limit")
            return False
    if op.now < ready:
        op.mark(node, Phase.RUNNING, f"Backoff for {_seconds(wait)}")
        op.wake_at(ready)
        return False
    return True


# ------------------------------------------------------------------ pods


def _transient(op: Operator, node: Node) -> bool:
    """Argo's OnTransientError test (the message matches a transient error pattern), or an
    nbflow step whose end, as its exit code reports it, is transient."""
    import os

    from ..argo.container import runs_nbflow
    from ..outcome import StepEnd

    template = op.templates.get(node.get("templateName") or "")
    if template is not None and runs_nbflow(template):
        end = StepEnd.of_node(node)
        if end is not None and end.transient:
            return True
    pattern = os.environ.get("TRANSIENT_ERROR_PATTERN") or TRANSIENT
    return re.search(pattern, node.get("message") or "", re.IGNORECASE) is not None


def _expression_allows(expression: str, last: Node) -> bool:
    """Evaluate ``retryStrategy.expression`` with Argo's ``lastRetry.*`` variables."""
    from ..argo.expr import evaluate_expr

    duration = 0.0
    if "startedAt" in last and "finishedAt" in last:
        duration = (
            parse_timestamp(last["finishedAt"]) - parse_timestamp(last["startedAt"])
        ).total_seconds()
    last_retry = {
        "exitCode": str((last.get("outputs") or {}).get("exitCode", "-1")),
        "status": last["phase"],
        "duration": str(int(duration)),
        "message": last.get("message", ""),
    }
    return bool(evaluate_expr(expression, {"lastRetry": last_retry}))


def _seconds(wait: float) -> str:
    return f"{int(wait)} seconds" if float(wait).is_integer() else f"{wait:g} seconds"
