"""Argo's CronWorkflow rules as pure functions over a spec, its status and a time.

Follows ``workflow/cron/operator.go``: which ticks are due (on time, or after an outage only
the latest one and only within ``startingDeadlineSeconds``), ``enforceRuntimePolicy``
(``suspend``, a Stopped phase, ``when``, ``concurrencyPolicy``), ``stopStrategy``, the counters
kept when a child ends, and ``enforceHistoryLimit``. No clock, no I/O: the scheduler calls
these and does what they say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .cron import next_time

__all__ = [
    "Decision",
    "ON_TIME_S",
    "child_name",
    "due_ticks",
    "due_and_next",
    "decide",
    "finished",
    "history_to_delete",
    "rfc3339",
    "parse_time",
]

#: A gap longer than this between two looks of the scheduler means it was not running
#: (stopped, machine asleep, stalled): ticks in the gap were missed, and Argo's rule for missed
#: ticks applies to them. Shorter delays are the scheduler's own latency: those ticks fire.
ON_TIME_S = 30.0
#: Argo's defaults of ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit``.
HISTORY_DEFAULTS = (3, 1)
_EPSILON = timedelta(microseconds=1)


def rfc3339(t: datetime) -> str:
    """``t`` as Argo writes times: UTC, whole seconds, ``Z``."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Read an RFC 3339 time written by :func:`rfc3339` (or any ISO 8601 with an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def child_name(cron_name: str, scheduled: datetime) -> str:
    """Argo's ``getChildWorkflowName``: ``<cron-name>-<unix seconds of the scheduled time>``."""
    return f"{cron_name}-{int(scheduled.timestamp())}"


def due_ticks(
    spec: dict[str, Any], since: datetime, now: datetime, anchor: datetime, up_since: datetime
) -> list[datetime]:
    """The ticks to fire at ``now`` among those in ``(since, now]``.

    See :func:`due_and_next`, which also gives the first tick after ``now``.
    """
    return due_and_next(spec, since, now, anchor, up_since)[0]


def due_and_next(
    spec: dict[str, Any], since: datetime, now: datetime, anchor: datetime, up_since: datetime
) -> tuple[list[datetime], datetime]:
    """The ticks to fire at ``now`` among those in ``(since, now]``, and the next one after.

    Ticks at or after ``up_since`` (the scheduler was running then) all fire. Of the ticks
    missed before it (the scheduler was down), like Argo's ``shouldOutstandingWorkflowsBeRun``,
    only the most recent may run, and only if ``now`` is before it plus
    ``startingDeadlineSeconds`` (none or 0: missed ticks never run).
    """
    missed: datetime | None = None
    on_time: list[datetime] = []
    deadline = int(spec.get("startingDeadlineSeconds") or 0)
    # missed ticks older than the deadline window can never run: do not walk through them
    window = now - timedelta(seconds=deadline) if deadline else up_since - _EPSILON
    t = max(since, min(window, up_since - _EPSILON))
    schedules = spec.get("schedules") or []
    while True:
        t = next_time(schedules, spec.get("timezone"), t, anchor)
        if t > now:
            break
        if t >= up_since:
            on_time.append(t)
        else:
            missed = t
    if missed is not None and deadline and now < missed + timedelta(seconds=deadline):
        return [missed, *on_time], t
    return on_time, t


@dataclass
class Decision:
    """What to do with one tick: ``fire`` or not (``reason``), and which runs to terminate."""

    fire: bool
    reason: str = ""
    terminate: list[str] = field(default_factory=list)


def decide(spec: dict[str, Any], status: dict[str, Any], name: str) -> Decision:
    """Argo's ``enforceRuntimePolicy`` (after ``checkStopingCondition``) for one tick."""
    if spec.get("suspend"):
        return Decision(False, "suspended")
    if status.get("phase") == "Stopped" or stop_condition(spec, status, name):
        return Decision(False, "stopped by its stopStrategy")
    if not when_holds(spec, status, name):
        return Decision(False, f"when {spec['when']!r} is false")
    active = list(status.get("active") or [])
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active:
        return Decision(False, f"concurrencyPolicy Forbid and {', '.join(active)} is running")
    if policy == "Replace" and active:
        return Decision(True, "", terminate=active)
    return Decision(True)


def _variables(status: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "local",
        "failed": int(status.get("failed") or 0),
        "succeeded": int(status.get("succeeded") or 0),
        "lastScheduledTime": status.get("lastScheduledTime"),
    }


def stop_condition(spec: dict[str, Any], status: dict[str, Any], name: str) -> bool:
    """Whether ``stopStrategy.expression`` holds (expr, over ``cronworkflow.*``)."""
    expression = (spec.get("stopStrategy") or {}).get("expression")
    if not expression:
        return False
    from ..argo.expr import evaluate_expr

    value = evaluate_expr(expression, {"cronworkflow": _variables(status, name)},
                          where="stopStrategy.expression")
    return value is True


def when_holds(spec: dict[str, Any], status: dict[str, Any], name: str) -> bool:
    """Whether ``when`` holds: ``{{cronworkflow.*}}`` substituted, then govaluate."""
    when = spec.get("when")
    if not when:
        return True
    from ..argo.expr import evaluate_when
    from ..argo.subst import substitute

    scope = {f"cronworkflow.{k}": "" if v is None else str(v)
             for k, v in _variables(status, name).items()}
    return evaluate_when(substitute(when, scope, where="when"), where="when")


def finished(status: dict[str, Any], spec: dict[str, Any], name: str, run: str,
             phase: str) -> dict[str, Any]:
    """The status once child ``run`` ended in ``phase`` (``reconcileActiveWfs``)."""
    out = {**status, "active": [r for r in status.get("active") or [] if r != run]}
    if phase == "Succeeded":
        out["succeeded"] = int(out.get("succeeded") or 0) + 1
    elif phase in ("Failed", "Error"):
        out["failed"] = int(out.get("failed") or 0) + 1
    if stop_condition(spec, out, name):
        out["phase"] = "Stopped"
    return out


def history_to_delete(spec: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    """Finished runs beyond ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit``
    (defaults 3 and 1), oldest ``finishedAt`` first to go (``enforceHistoryLimit``)."""
    out: list[str] = []
    for phases, key, default in (
        (("Succeeded",), "successfulJobsHistoryLimit", HISTORY_DEFAULTS[0]),
        (("Failed", "Error"), "failedJobsHistoryLimit", HISTORY_DEFAULTS[1]),
    ):
        limit = spec.get(key)
        keep = int(limit) if limit is not None and int(limit) >= 0 else default
        done = [r for r in runs if r["phase"] in phases and r.get("finishedAt")]
        done.sort(key=lambda r: r["finishedAt"], reverse=True)
        out += [r["run"] for r in done[keep:]]
    return out
