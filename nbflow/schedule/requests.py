"""The schedules API of the server as plain functions: JSON bodies in, JSON-able data out.

A REST handler only confines paths and maps errors to statuses (:data:`STATUS`); the work is
:mod:`.actions`, the same functions the CLI and the magics call. Bodies use Argo's field names::

    POST schedules {"notebook": PATH, "workflow"?, "parameters"?: {k: v} | ["k=v"],
                    "schedules": [CRON], "timezone"?, "concurrencyPolicy"?,
                    "startingDeadlineSeconds"?, "successfulJobsHistoryLimit"?,
                    "failedJobsHistoryLimit"?, "suspend"?, "code"?: "follow"|"snapshot",
                    "name"?, "notify"?: {"targets": ["email:a@b.c", "slack:team"], "on"?,
                    "attach"?}, "replace"?}
    PATCH schedules/NAME {any of actions.CHANGEABLE, "notify"}   (null removes a field)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NbflowError, SpecError
from . import actions
from .source import ScheduleOptions
from .store import ScheduleExists, ScheduleNotFound

if TYPE_CHECKING:
    from ..config import NbflowConfig

__all__ = ["STATUS", "create", "listing", "one", "patch", "remove", "act", "history",
           "describe"]

#: HTTP statuses of the errors these functions raise (most specific first; the server's
#: ``nbflow.server.base`` table has the same entries).
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (ScheduleNotFound, 404),
    (ScheduleExists, 409),
    (SpecError, 400),
    (NbflowError, 400),
)
ACTIONS = ("pause", "resume", "run-now")


def _notify(value: Any) -> dict[str, Any] | None:
    from ..notify.spec import parse_notify

    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("targets"), list):
        raise SpecError('notify must be {"targets": ["email:ADDRESS" | "webhook:NAME" | '
                        '"slack:NAME", ...], "on"?: "failure"|"success"|"always", "attach"?}')
    return parse_notify([str(t) for t in value["targets"]], value.get("on"),
                        bool(value.get("attach")))


def _int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"{key} must be a whole number of 0 or more, not {value!r}")
    return value


def _parameters(value: Any) -> list[str]:
    """``{"k": v}`` as ``-p`` texts (a string read as ``-p k=TEXT`` reads it, a Python literal
    when it is one; any other JSON value stands for itself), or ``["k=v"]`` as is."""
    if value is None:
        return []
    if isinstance(value, dict):
        from ..actions import assignments

        return assignments(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise SpecError('parameters must be {"name": value} or ["name=value", ...]')


def options_of(body: dict[str, Any]) -> ScheduleOptions:
    """The :class:`ScheduleOptions` of a ``POST schedules`` body."""
    schedules = body.get("schedules")
    if not isinstance(schedules, list) or not all(isinstance(s, str) for s in schedules):
        raise SpecError("schedules must be a list of cron expressions, e.g. [\"0 2 * * *\"]")
    return ScheduleOptions(
        schedules=tuple(schedules),
        timezone=body.get("timezone") or None,
        concurrency_policy=body.get("concurrencyPolicy") or None,
        starting_deadline_s=_int(body, "startingDeadlineSeconds"),
        history=(_int(body, "successfulJobsHistoryLimit"), _int(body, "failedJobsHistoryLimit")),
        suspend=bool(body.get("suspend")),
        code=body.get("code") or "follow",
        name=body.get("name") or None,
        notify=_notify(body.get("notify")),
    )


def create(body: dict[str, Any], notebook: Path, config: NbflowConfig) -> dict[str, Any]:
    """``POST schedules``: schedule the (already confined) ``notebook``; its summary."""
    return actions.add_schedule(notebook, workflow=body.get("workflow") or None,
                                parameters=_parameters(body.get("parameters")),
                                options=options_of(body), replace=bool(body.get("replace")),
                                config=config)


def listing(config: NbflowConfig) -> dict[str, Any]:
    """``GET schedules`` → ``{"schedules": [summary, ...]}``."""
    return {"schedules": actions.list_schedules(config=config)}


def one(name: str, config: NbflowConfig) -> dict[str, Any]:
    """``GET schedules/NAME``: the summary, the CronWorkflow and the next 5 times."""
    return actions.get_schedule(name, config=config)


def patch(name: str, body: dict[str, Any], config: NbflowConfig) -> dict[str, Any]:
    """``PATCH schedules/NAME``: change fields (Argo's names; ``null`` removes one)."""
    changes = dict(body)
    if "notify" in changes:
        changes["notify"] = _notify(changes["notify"])
    return actions.update_schedule(name, changes, config=config)


def remove(name: str, config: NbflowConfig) -> None:
    """``DELETE schedules/NAME``."""
    actions.remove_schedule(name, config=config)


def act(name: str, action: str, config: NbflowConfig) -> dict[str, Any]:
    """``POST schedules/NAME/actions/ACTION`` (``pause``, ``resume``, ``run-now``)."""
    if action == "run-now":
        return {"run": actions.run_now(name, config=config)}
    if action == "pause":
        return actions.pause_schedule(name, config=config)
    if action == "resume":
        return actions.resume_schedule(name, config=config)
    raise SpecError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")


def history(name: str, config: NbflowConfig) -> dict[str, Any]:
    """``GET schedules/NAME/history`` → ``{"runs": [...]}``, newest first."""
    return {"runs": actions.schedule_history(name, config=config)}


def describe(cron: list[str], timezone: str | None, count: int = 5) -> dict[str, Any]:
    """``GET schedules/describe?cron=...&timezone=...`` → ``{"text", "next"}``."""
    if not cron:
        raise SpecError("cron is required, e.g. ?cron=0+2+*+*+*")
    return actions.describe_cron(cron, timezone, count)
