"""What a schedule runs: the CronWorkflow made from a notebook, and the Workflow of one tick.

``code="follow"`` compiles the notebook file as it is at each tick; ``code="snapshot"`` runs the
workflow compiled when the schedule was made (the CronWorkflow's ``workflowSpec`` holds the step
notebooks inline, so it *is* the frozen copy). Every run records which code it ran in its
``run.json``: the notebook's path and sha256, and the sha256 of the workflow spec it ran.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NbflowError
from ..vocab import CRON_WORKFLOW_LABEL as CRON_LABEL
from ..vocab import SCHEDULED_TIME_ANNOTATION as SCHEDULED_TIME

if TYPE_CHECKING:
    from ..config import NbflowConfig
    from ..model import Workflow
    from .store import ScheduleRecord

__all__ = ["ScheduleOptions", "CRON_LABEL", "SCHEDULED_TIME", "cron_workflow", "tick_workflow"]

CODE_MODES = ("follow", "snapshot")


@dataclass(frozen=True)
class ScheduleOptions:
    """The options of ``nbflow schedule add`` (``None``: Argo's default, or the notebook's).

    ``history`` is ``(successfulJobsHistoryLimit, failedJobsHistoryLimit)``.
    """

    schedules: tuple[str, ...] = ()
    timezone: str | None = None
    concurrency_policy: str | None = None
    starting_deadline_s: int | None = None
    history: tuple[int | None, int | None] = (None, None)
    suspend: bool = False
    code: str = "follow"
    name: str | None = None
    notify: dict[str, Any] | None = None


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def spec_digest(spec: dict[str, Any]) -> str:
    """The sha256 of a workflow spec's canonical JSON."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cron_workflow(
    path: str | Path | Workflow,
    workflow: str | None,
    assignments: list[str] | tuple[str, ...],
    options: ScheduleOptions,
    config: NbflowConfig,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The CronWorkflow of a notebook's workflow (or of a manifest, or of a kernel's live
    workflow model, which can only be a snapshot), and where it came from."""
    from .. import api
    from ..argo.kinds import CronOptions, convert
    from ..argo.manifest import set_parameters
    from ..model import Workflow

    if options.code not in CODE_MODES:
        raise NbflowError(f"code mode {options.code!r}: use follow or snapshot")
    params: dict[str, Any] = {}
    if isinstance(path, Workflow):
        source, base, origin = path, Path.cwd(), None
    else:
        source, params, base, origin = api.load_source(path, workflow, list(assignments))
    schedules = options.schedules
    if isinstance(source, Workflow):
        schedules = schedules or ((source.schedule,) if source.schedule else ())
        manifest = api.compile_workflow(source, config=config, base_dir=base)
    else:
        from ..argo.literal import encode_value

        manifest = copy.deepcopy(source)
        set_parameters(manifest.get("spec", {}),
                       {k: encode_value(v) for k, v in params.items()})
    cron = CronOptions(tuple(schedules), options.timezone, options.concurrency_policy,
                       options.starting_deadline_s, options.suspend)
    obj = convert(manifest, "cronworkflow", name=options.name, cron=cron)
    for key, limit in zip(("successfulJobsHistoryLimit", "failedJobsHistoryLimit"),
                          options.history):
        if limit is not None:
            obj["spec"][key] = int(limit)
    notebook = origin["notebook"] if origin else None
    options = _notify_of(options, source)
    info = {
        "notebook": notebook,
        "workflow": origin["workflow"] if origin else None,
        "code": options.code if notebook else "snapshot",
        "sha256": sha256_of(notebook) if notebook else spec_digest(obj["spec"]["workflowSpec"]),
        "workdir": str(Path(base).resolve()),
        "parameters": list(assignments),
        "notify": options.notify,
    }
    return obj, info


def _notify_of(options: ScheduleOptions, source: Any) -> ScheduleOptions:
    """The schedule's ``--notify``, else the workflow's own (``%%workflow --notify``)."""
    from dataclasses import replace

    own = getattr(source, "notify", None)
    return options if options.notify or not own else replace(options, notify=own)


def tick_workflow(
    rec: ScheduleRecord, run: str, scheduled: str, config: NbflowConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Workflow that run ``run`` of schedule ``rec`` executes, and its recorded settings.

    Like Argo's ``ConvertCronWorkflowToWorkflowWithProperties``: the child is named ``run``,
    labelled with its CronWorkflow and annotated with its scheduled time (which the engine
    offers as ``{{workflow.scheduledTime}}``).
    """
    src = rec.source
    code: dict[str, Any] = {"mode": src.get("code", "snapshot")}
    if src.get("notebook"):
        code["notebook"] = src["notebook"]
    if code["mode"] == "follow":
        spec, code["sha256"] = _compile_now(rec, config)
    else:
        spec = copy.deepcopy(rec.spec["workflowSpec"])
        code["sha256"] = src.get("sha256")
    code["workflowSpecSha256"] = spec_digest(spec)
    meta = rec.spec.get("workflowMetadata") or {}
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": run,
            "labels": {**(meta.get("labels") or {}), CRON_LABEL: rec.name},
            "annotations": {**(meta.get("annotations") or {}), SCHEDULED_TIME: scheduled},
        },
        "spec": spec,
    }
    settings: dict[str, Any] = {"schedule": rec.name, "scheduledTime": scheduled, "code": code}
    if src.get("notebook"):
        settings.update(notebook=src["notebook"], workflow=src.get("workflow"),
                        base_dir=str(Path(src["notebook"]).parent))
    if src.get("notify"):
        settings["notify"] = src["notify"]
    return manifest, settings


def _compile_now(rec: ScheduleRecord, config: NbflowConfig) -> tuple[dict[str, Any], str]:
    """Compile the notebook file as it is now; return the workflow spec and the file's sha256.

    The file is read for the digest and again for compiling: if it changed in between, both
    are taken again, so the digest always names the code that was compiled.
    """
    from .. import api
    from ..argo.kinds import CronOptions, convert

    src = rec.source
    for _ in range(5):
        before = sha256_of(src["notebook"])
        model, _, base, _ = api.load_source(src["notebook"], src.get("workflow"),
                                            src.get("parameters") or [])
        manifest = api.compile_workflow(model, config=config, base_dir=base)
        if sha256_of(src["notebook"]) == before:
            cron = CronOptions(tuple(rec.spec["schedules"]))
            obj = convert(manifest, "cronworkflow", name=rec.name, cron=cron)
            return obj["spec"]["workflowSpec"], before
    raise NbflowError(f"{src['notebook']} keeps changing: could not compile a stable version")

