"""Turn a compiled Workflow into the other Argo kinds, and share templates between workflows.

``convert`` gives a WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow (v3.6+/v4
``schedules:`` list) with the same spec; ``use_template_ref`` makes a workflow call the step
templates published in a (Cluster)WorkflowTemplate through ``templateRef`` instead of embedding
them; ``inline_template_refs`` does the reverse, so such a workflow also runs locally.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ManifestError, SpecError
from ..vocab import API_VERSION
from .limits import ENUMS, MAX_CRON_NAME, SCHEDULE, workflow_spec

__all__ = [
    "KINDS",
    "CronOptions",
    "base_name",
    "convert",
    "export",
    "from_template",
    "use_template_ref",
    "inline_template_refs",
]

#: Accepted spellings (``--kind``) of the Argo kinds.
KINDS = {
    "workflow": "Workflow",
    "workflowtemplate": "WorkflowTemplate",
    "clusterworkflowtemplate": "ClusterWorkflowTemplate",
    "cronworkflow": "CronWorkflow",
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class CronOptions:
    """How a CronWorkflow schedules its workflow.

    Parameters
    ----------
    schedules : tuple of str
        Cron expressions (five fields), ``@daily``-style macros or ``@every 1h``.
    timezone : str, optional
        IANA time zone of the schedules, e.g. ``"Europe/Paris"`` (default: the controller's).
    concurrency_policy : str, optional
        ``Allow``, ``Forbid`` (skip a run while one is going on) or ``Replace``.
    starting_deadline_s : int, optional
        How late a missed run may still start.
    suspend : bool
        Create the CronWorkflow suspended.
    """

    schedules: tuple[str, ...]
    timezone: str | None = None
    concurrency_policy: str | None = None
    starting_deadline_s: int | None = None
    suspend: bool = False


def base_name(manifest: dict[str, Any]) -> str:
    """The workflow's own name: ``metadata.name``, else ``generateName`` without its ``-``."""
    meta = manifest.get("metadata") or {}
    name = meta.get("name") or (meta.get("generateName") or "").rstrip("-")
    if not name:
        raise ManifestError("the manifest has neither metadata.name nor metadata.generateName")
    return str(name)


def convert(
    manifest: dict[str, Any],
    kind: str,
    *,
    name: str | None = None,
    cron: CronOptions | None = None,
) -> dict[str, Any]:
    """Return ``manifest`` (any Argo kind) as a ``kind`` object with the same workflow spec.

    Parameters
    ----------
    manifest : dict
        A Workflow (as compiled), or another kind.
    kind : str
        ``workflow``, ``workflowtemplate``, ``clusterworkflowtemplate`` or ``cronworkflow``
        (any case).
    name : str, optional
        Object name (default: the workflow's name); a Workflow gets ``generateName: NAME-``.
    cron : CronOptions, optional
        Required for a CronWorkflow.
    """
    target = KINDS.get(kind.lower().replace("-", "").replace("_", ""))
    if target is None:
        raise SpecError(f"--kind {kind!r}: use one of {', '.join(KINDS)}")
    name = name or base_name(manifest)
    if not _NAME.match(name) or len(name) > 253:
        raise SpecError(f"{name!r} is not a valid name (lower-case letters, digits and '-')")
    spec = copy.deepcopy(workflow_spec(manifest))
    labels = dict((manifest.get("metadata") or {}).get("labels") or {})
    meta: dict[str, Any] = {"generateName": f"{name}-"} if target == "Workflow" else {"name": name}
    if labels:
        meta["labels"] = labels
    out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": target, "metadata": meta}
    if target != "CronWorkflow":
        out["spec"] = spec
        return out
    if cron is None or not cron.schedules:
        raise SpecError(
            "a CronWorkflow needs a schedule: --schedule CRON, or %%workflow NAME --schedule CRON"
        )
    out["spec"] = _cron_spec(name, cron, spec, labels)
    return out


def _cron_spec(
    name: str, cron: CronOptions, spec: dict[str, Any], labels: dict[str, str]
) -> dict[str, Any]:
    if len(name) > MAX_CRON_NAME:
        raise SpecError(
            f"CronWorkflow name {name!r} is {len(name)} characters; Argo allows {MAX_CRON_NAME}"
        )
    for text in cron.schedules:
        if not SCHEDULE.match(text):
            raise SpecError(
                f"--schedule {text!r}: expected 5 cron fields (minute hour day month weekday), "
                "a macro such as @daily, or @every DURATION"
            )
    policies = ENUMS["concurrencyPolicy"]
    if cron.concurrency_policy is not None and cron.concurrency_policy not in policies:
        raise SpecError(
            f"--concurrency-policy {cron.concurrency_policy!r}: use one of {', '.join(policies)}"
        )
    out: dict[str, Any] = {"schedules": list(cron.schedules)}
    if cron.timezone:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(cron.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SpecError(f"--timezone {cron.timezone!r}: unknown time zone") from None
        out["timezone"] = cron.timezone
    if cron.concurrency_policy:
        out["concurrencyPolicy"] = cron.concurrency_policy
    if cron.starting_deadline_s is not None:
        out["startingDeadlineSeconds"] = int(cron.starting_deadline_s)
    if cron.suspend:
        out["suspend"] = True
    if labels:
        out["workflowMetadata"] = {"labels": labels}
    out["workflowSpec"] = _pass_scheduled_time(spec)
    return out


#: A workflow parameter of this name gets each run's scheduled time in a CronWorkflow.
SCHEDULED_TIME_PARAM = "scheduled_time"


def _pass_scheduled_time(spec: dict[str, Any]) -> dict[str, Any]:
    """Give tasks the run's ``{{workflow.scheduledTime}}`` (RFC 3339) where they would get the
    workflow parameter ``scheduled_time``: Argo does not substitute tags inside parameter
    values, so the task arguments refer to the variable itself."""
    wanted = f"{{{{workflow.parameters.{SCHEDULED_TIME_PARAM}}}}}"
    for tmpl in spec.get("templates") or []:
        for task in (tmpl.get("dag") or {}).get("tasks") or []:
            for p in (task.get("arguments") or {}).get("parameters") or []:
                if p.get("value") == wanted:
                    p["value"] = "{{workflow.scheduledTime}}"
    return spec


def export(
    manifest: dict[str, Any],
    kind: str | None = None,
    *,
    name: str | None = None,
    schedules: tuple[str, ...] = (),
    timezone: str | None = None,
    concurrency_policy: str | None = None,
    template_ref: str | None = None,
    cluster_scope: bool = False,
) -> dict[str, Any]:
    """A Workflow made ready for ``kubectl apply`` as ``kind``.

    It is shaped for Argo's limits as a compiled one is (:func:`.compile.shape_for_argo`, a
    no-op on what :func:`.compile.to_manifest` gives), steps come from the shared
    ``template_ref`` when given (:func:`use_template_ref`), and the object is converted
    (:func:`convert`). ``kind`` defaults to ``cronworkflow`` when there are ``schedules``, else
    ``workflow``.
    """
    from .compile import shape_for_argo

    out = shape_for_argo(manifest)
    if template_ref:
        out = use_template_ref(out, template_ref, cluster_scope=cluster_scope)
    kind = kind or ("cronworkflow" if schedules else "workflow")
    cron = None
    if KINDS.get(kind.lower()) == "CronWorkflow":
        cron = CronOptions(tuple(schedules), timezone, concurrency_policy)
    return convert(out, kind, name=name, cron=cron)


def from_template(
    template: str,
    *,
    cluster_scope: bool = False,
    parameters: Mapping[str, str] | None = None,
    generate_name: str | None = None,
) -> dict[str, Any]:
    """A Workflow that runs the whole (Cluster)WorkflowTemplate ``template``.

    ``parameters`` are workflow parameters, already encoded as the text Argo passes on.
    """
    ref: dict[str, Any] = {"name": template}
    if cluster_scope:
        ref["clusterScope"] = True
    spec: dict[str, Any] = {"workflowTemplateRef": ref}
    if parameters:
        spec["arguments"] = {
            "parameters": [{"name": k, "value": v} for k, v in sorted(parameters.items())]
        }
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"generateName": generate_name or f"{template}-"},
        "spec": spec,
    }


def use_template_ref(
    manifest: dict[str, Any],
    shared: str,
    *,
    cluster_scope: bool = False,
    templates: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Call leaf templates from the shared (Cluster)WorkflowTemplate ``shared`` by ``templateRef``.

    Every DAG task calling a leaf (container, script...) template, or only those in
    ``templates``, gets ``templateRef: {name: shared, template: T}``; templates no task calls
    any more leave the manifest, which becomes smaller.
    """
    out = copy.deepcopy(manifest)
    spec = workflow_spec(out)
    by_name = {t["name"]: t for t in spec.get("templates") or []}
    chosen = set(templates) if templates is not None else None
    missing = sorted((chosen or set()) - set(by_name))
    if missing:
        raise SpecError(f"no template {', '.join(missing)} in the workflow")
    moved: set[str] = set()
    for tmpl in by_name.values():
        for task in (tmpl.get("dag") or {}).get("tasks") or []:
            target = task.get("template")
            if target not in by_name or "dag" in by_name[target]:
                continue
            if chosen is not None and target not in chosen:
                continue
            ref: dict[str, Any] = {"name": shared, "template": target}
            if cluster_scope:
                ref["clusterScope"] = True
            del task["template"]
            task["templateRef"] = ref
            moved.add(target)
    still = _called(spec)
    spec["templates"] = [t for t in spec["templates"] if t["name"] not in moved - still]
    return out


def _called(spec: dict[str, Any]) -> set[str]:
    names = {spec.get("entrypoint"), spec.get("onExit")}
    for tmpl in spec.get("templates") or []:
        names |= {t.get("template") for t in (tmpl.get("dag") or {}).get("tasks") or []}
    return {n for n in names if n}


def inline_template_refs(
    manifest: dict[str, Any], shared: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """Replace ``templateRef`` tasks with copies of the templates they refer to.

    ``shared`` maps (Cluster)WorkflowTemplate names to their manifests.
    """
    out = copy.deepcopy(manifest)
    spec = workflow_spec(out)
    own = {t["name"]: t for t in spec.get("templates") or []}
    for tmpl in list(own.values()):
        for task in (tmpl.get("dag") or {}).get("tasks") or []:
            ref = task.get("templateRef")
            if not ref:
                continue
            source = shared.get(ref.get("name", ""))
            if source is None:
                raise ManifestError(
                    f"task {task['name']!r} refers to {ref.get('name')!r}, which is not given"
                )
            found = next(
                (t for t in workflow_spec(source).get("templates") or []
                 if t["name"] == ref.get("template")),
                None,
            )
            if found is None:
                raise ManifestError(f"{ref['name']!r} has no template {ref.get('template')!r}")
            if found["name"] in own and own[found["name"]] != found:
                raise ManifestError(
                    f"template {found['name']!r} of {ref['name']!r} clashes with the workflow's own"
                )
            if found["name"] not in own:
                own[found["name"]] = copy.deepcopy(found)
                spec["templates"].append(own[found["name"]])
            del task["templateRef"]
            task["template"] = found["name"]
    return out
