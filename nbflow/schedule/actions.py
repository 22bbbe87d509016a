"""One function per schedule action, called alike by the CLI, the magics and the server.

Local schedules live in the home (:mod:`.store`) and the local scheduler fires them;
``backend="argo"`` applies the very same CronWorkflow to a cluster (:mod:`.cluster`).
Every function returns plain JSON-able data.
"""

from __future__ import annotations

import contextlib
import copy
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NbflowError
from .cron import describe, upcoming
from .policy import HISTORY_DEFAULTS, child_name, parse_time, rfc3339
from .source import ScheduleOptions, cron_workflow
from .store import ScheduleRecord, ScheduleStore

if TYPE_CHECKING:
    from ..config import NbflowConfig

__all__ = [
    "add_schedule",
    "list_schedules",
    "get_schedule",
    "update_schedule",
    "pause_schedule",
    "resume_schedule",
    "remove_schedule",
    "run_now",
    "schedule_history",
    "describe_cron",
]

#: The spec fields ``update_schedule`` may change, by their Argo names.
CHANGEABLE = (
    "schedules",
    "timezone",
    "concurrencyPolicy",
    "startingDeadlineSeconds",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "suspend",
    "when",
    "stopStrategy",
)


def _config(config: NbflowConfig | None) -> NbflowConfig:
    from ..config import load_config

    return config if config is not None else load_config()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _store(cfg: NbflowConfig) -> ScheduleStore:
    return ScheduleStore(cfg.home)


def summary(rec: ScheduleRecord, now: datetime | None = None) -> dict[str, Any]:
    """The schedule as the CLI lists it and the server returns it."""
    from .cron import next_time

    spec, st, src = rec.spec, rec.status, rec.source
    now = now or _now()
    paused = bool(spec.get("suspend")) or st.get("phase") == "Stopped"
    after = max(now, parse_time(rec.anchor))
    nxt = None if paused else next_time(spec["schedules"], spec.get("timezone"), after,
                                        parse_time(rec.anchor))
    return {
        "name": rec.name,
        "backend": "local",
        "schedules": list(spec["schedules"]),
        "timezone": spec.get("timezone") or "UTC",
        "description": describe(spec["schedules"], spec.get("timezone")),
        "concurrencyPolicy": spec.get("concurrencyPolicy") or "Allow",
        "startingDeadlineSeconds": spec.get("startingDeadlineSeconds"),
        "history": [spec.get("successfulJobsHistoryLimit", HISTORY_DEFAULTS[0]),
                    spec.get("failedJobsHistoryLimit", HISTORY_DEFAULTS[1])],
        "suspended": bool(spec.get("suspend")),
        "phase": st.get("phase") or "Active",
        "code": src.get("code"),
        "notebook": src.get("notebook"),
        "workflow": src.get("workflow"),
        "sha256": src.get("sha256"),
        "parameters": list(src.get("parameters") or []),
        "notify": src.get("notify"),
        "lastScheduledTime": st.get("lastScheduledTime"),
        "nextScheduledTime": rfc3339(nxt) if nxt else None,
        "active": list(st.get("active") or []),
        "succeeded": int(st.get("succeeded") or 0),
        "failed": int(st.get("failed") or 0),
    }


def add_schedule(
    source: str | Path,
    *,
    workflow: str | None = None,
    parameters: list[str] | tuple[str, ...] = (),
    options: ScheduleOptions | None = None,
    backend: str = "local",
    replace: bool = False,
    config: NbflowConfig | None = None,
    cluster: Any = None,
) -> dict[str, Any]:
    """Schedule a notebook's workflow (or a manifest); return the new schedule's summary.

    ``parameters`` are ``NAME=VALUE`` texts (``-p``). With ``backend="argo"`` the CronWorkflow
    is created (or, with ``replace``, updated) on the cluster instead.
    """
    cfg = _config(config)
    options = options or ScheduleOptions()
    if backend == "argo":
        from .cluster import apply_cron

        return apply_cron(source, workflow, parameters, options, cfg, cluster)
    if backend != "local":
        raise NbflowError(f"--backend {backend!r}: use local or argo")
    obj, info = cron_workflow(source, workflow, parameters, options, cfg)
    rec = ScheduleRecord(obj, info, rfc3339(_now()), {})
    store = _store(cfg)
    if replace:
        with contextlib.suppress(NbflowError):
            rec.status = store.get(rec.name).status
    store.put(rec, replace=replace)
    return summary(rec)


def list_schedules(*, config: NbflowConfig | None = None) -> list[dict[str, Any]]:
    """Summaries of the home's schedules, by name."""
    now = _now()
    return [summary(r, now) for r in _store(_config(config)).all()]


def get_schedule(name: str, *, config: NbflowConfig | None = None) -> dict[str, Any]:
    """The summary, the CronWorkflow (with its ``status``) and the next 5 times of ``name``."""
    rec = _store(_config(config)).get(name)
    out = summary(rec)
    out["cronWorkflow"] = {**copy.deepcopy(rec.cron), "status": rec.status}
    out["next"] = [] if out["nextScheduledTime"] is None else [
        rfc3339(t) for t in upcoming(rec.spec["schedules"], rec.spec.get("timezone"),
                                     max(_now(), parse_time(rec.anchor)), 5,
                                     parse_time(rec.anchor))
    ]
    return out


def update_schedule(
    name: str, changes: dict[str, Any], *, config: NbflowConfig | None = None
) -> dict[str, Any]:
    """Change spec fields (:data:`CHANGEABLE`; ``None`` removes one) or ``notify``.

    Ticks count from now on, as Argo does not run ticks missed under an older schedule.
    """
    unknown = sorted(set(changes) - set(CHANGEABLE) - {"notify"})
    if unknown:
        raise NbflowError(f"cannot change {', '.join(unknown)} (changeable: "
                          f"{', '.join(CHANGEABLE)}, notify)")
    store = _store(_config(config))
    rec = store.get(name)
    cron, source = copy.deepcopy(rec.cron), dict(rec.source)
    for key, value in changes.items():
        if key == "notify":
            source["notify"] = value
        elif value is None:
            cron["spec"].pop(key, None)
        else:
            cron["spec"][key] = value
    _check_spec(cron)
    store.update(name, cron=cron, source=source, anchor=rfc3339(_now()))
    return summary(store.get(name))


def _check_spec(cron: dict[str, Any]) -> None:
    from ..argo.limits import check_manifest

    spec = cron["spec"]
    describe(spec.get("schedules") or [], spec.get("timezone"))  # raises on a bad schedule
    errors = [str(p) for p in check_manifest(cron) if p.level == "error"]
    if errors:
        raise NbflowError("invalid schedule: " + "; ".join(errors))


def pause_schedule(name: str, *, config: NbflowConfig | None = None) -> dict[str, Any]:
    """Suspend ``name`` (``spec.suspend: true``): no tick fires until it is resumed."""
    return update_schedule(name, {"suspend": True}, config=config)


def resume_schedule(name: str, *, config: NbflowConfig | None = None) -> dict[str, Any]:
    """Resume ``name``; ticks that passed while it was paused do not run."""
    return update_schedule(name, {"suspend": None}, config=config)


def remove_schedule(name: str, *, config: NbflowConfig | None = None) -> None:
    """Delete ``name``; its runs stay in the run store (running ones go on)."""
    _store(_config(config)).remove(name)


def run_now(name: str, *, config: NbflowConfig | None = None) -> str:
    """Start a run of ``name`` now, whatever its schedule and policies (``argo submit
    --from cronwf/NAME``); it counts in the schedule's history. Returns the run's name."""
    from .launch import spawn_detached

    cfg = _config(config)
    store = _store(cfg)
    rec = store.get(name)
    now = _now().replace(microsecond=0)
    run = child_name(name, now)
    status = {**rec.status, "active": [*(rec.status.get("active") or []), run]}
    if not store.record_fire(name, run, rfc3339(now), rfc3339(now), status):
        raise NbflowError(f"run {run} was started already (one run-now per second)")
    spawn_detached(Path(cfg.home), run)
    return run


def schedule_history(name: str, *, config: NbflowConfig | None = None) -> list[dict[str, Any]]:
    """The runs ``name`` fired that are still kept, newest first, with their phases."""
    from ..engine.store import RunStore

    cfg = _config(config)
    store = _store(cfg)
    store.get(name)  # a clear error for an unknown schedule
    runs = RunStore(cfg.runs_dir)
    out = []
    for row in store.runs(name):
        try:
            wf, _ = runs.load(row["run"])
            status = wf.get("status") or {}
            row.update(phase=status.get("phase") or row["phase"] or "Pending",
                       finishedAt=status.get("finishedAt") or row["finishedAt"],
                       startedAt=status.get("startedAt", ""))
        except NbflowError:
            row["phase"] = row["phase"] or "Pending"
        out.append(row)
    return out


def describe_cron(schedules: list[str], tz: str | None = None, count: int = 5) -> dict[str, Any]:
    """A schedule in words and its next ``count`` times (RFC 3339, UTC)."""
    return {"text": describe(schedules, tz),
            "next": [rfc3339(t) for t in upcoming(schedules, tz, _now(), count)]}
