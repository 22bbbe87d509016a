"""Schedules on a cluster: the same CronWorkflow, applied through the Kubernetes API; Argo fires it.

Notifications (``--notify``) become the CronWorkflow's exit handler (:mod:`nbflow.notify.exit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NbflowError
from .source import CRON_LABEL, ScheduleOptions

if TYPE_CHECKING:
    from ..config import NbflowConfig

__all__ = [
    "cron_manifest",
    "apply_cron",
    "list_crons",
    "get_cron",
    "set_suspend",
    "delete_cron",
    "trigger_cron",
    "cron_history",
]


def _cluster(cfg: NbflowConfig, cluster: Any) -> Any:
    from ..cluster.options import load_cluster_config

    return cluster if cluster is not None else load_cluster_config(cfg)


def _client(cfg: NbflowConfig, cluster: Any) -> Any:
    from ..cluster.client import ArgoClient

    return ArgoClient.from_config(_cluster(cfg, cluster))


def cron_manifest(
    source: str | Path,
    workflow: str | None,
    parameters: list[str] | tuple[str, ...],
    options: ScheduleOptions,
    cfg: NbflowConfig,
    cluster: Any = None,
) -> dict[str, Any]:
    """The CronWorkflow the cluster gets: the submitted Workflow (pod options, checks) as a
    CronWorkflow, with the notification exit handler when ``options.notify`` asks for one."""
    from .. import api
    from ..argo.kinds import CronOptions, convert
    from ..argo.limits import check_manifest
    from ..cluster.submit import build_manifest
    from ..model import Workflow

    ccfg = _cluster(cfg, cluster)
    src, params, base, _ = api.load_source(source, workflow, list(parameters))
    schedules = options.schedules
    if isinstance(src, Workflow) and not schedules and src.schedule:
        schedules = (src.schedule,)
    manifest, _ = build_manifest(src, config=cfg, cluster=ccfg, parameters=params, base_dir=base,
                                 notify=options.notify)
    cron = CronOptions(tuple(schedules), options.timezone, options.concurrency_policy,
                       options.starting_deadline_s, options.suspend)
    obj = convert(manifest, "cronworkflow", name=options.name, cron=cron)
    for key, limit in zip(("successfulJobsHistoryLimit", "failedJobsHistoryLimit"),
                          options.history):
        if limit is not None:
            obj["spec"][key] = int(limit)
    errors = [str(p) for p in check_manifest(obj) if p.level == "error"]
    if errors:
        raise NbflowError("the cluster would reject this CronWorkflow:\n  " + "\n  ".join(errors))
    return obj


def apply_cron(
    source: str | Path,
    workflow: str | None,
    parameters: list[str] | tuple[str, ...],
    options: ScheduleOptions,
    cfg: NbflowConfig,
    cluster: Any = None,
) -> dict[str, Any]:
    """Create or update the CronWorkflow on the cluster; return its summary."""
    obj = cron_manifest(source, workflow, parameters, options, cfg, cluster)
    with _client(cfg, cluster) as client:
        stored, created = client.apply(obj)
        namespace = client.namespace
    out = _summary(stored or obj, namespace)
    out["created"] = created
    return out


def _summary(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "name": obj["metadata"]["name"],
        "backend": "argo",
        "namespace": namespace,
        "schedules": list(spec.get("schedules") or []),
        "timezone": spec.get("timezone") or "the controller's",
        "concurrencyPolicy": spec.get("concurrencyPolicy") or "Allow",
        "suspended": bool(spec.get("suspend")),
        "phase": status.get("phase") or "Active",
        "lastScheduledTime": status.get("lastScheduledTime"),
        "active": [a.get("name") for a in status.get("active") or []],
        "succeeded": int(status.get("succeeded") or 0),
        "failed": int(status.get("failed") or 0),
    }


def list_crons(cfg: NbflowConfig, cluster: Any = None) -> list[dict[str, Any]]:
    """The namespace's CronWorkflows."""
    with _client(cfg, cluster) as client:
        items = client.list_objects("CronWorkflow").get("items") or []
        return [_summary(o, client.namespace) for o in items]


def get_cron(name: str, cfg: NbflowConfig, cluster: Any = None) -> dict[str, Any]:
    """One CronWorkflow: its summary and the object."""
    with _client(cfg, cluster) as client:
        obj = client.get(name, "CronWorkflow")
        return {**_summary(obj, client.namespace), "cronWorkflow": obj}


def set_suspend(name: str, suspend: bool, cfg: NbflowConfig, cluster: Any = None) -> dict:
    """``argo cron suspend|resume``: patch ``spec.suspend``."""
    with _client(cfg, cluster) as client:
        obj = client.patch(name, {"spec": {"suspend": suspend}}, "CronWorkflow")
        return _summary(obj, client.namespace)


def delete_cron(name: str, cfg: NbflowConfig, cluster: Any = None) -> None:
    """``argo cron delete``."""
    with _client(cfg, cluster) as client:
        client.delete(name, "CronWorkflow")


def trigger_cron(name: str, cfg: NbflowConfig, cluster: Any = None) -> str:
    """``argo submit --from cronwf/NAME``: a Workflow made of the CronWorkflow, now."""
    with _client(cfg, cluster) as client:
        cron = client.get(name, "CronWorkflow")
        meta = (cron["spec"].get("workflowMetadata") or {})
        wf = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                "generateName": f"{name}-",
                "labels": {**(meta.get("labels") or {}), CRON_LABEL: name},
            },
            "spec": cron["spec"]["workflowSpec"],
        }
        return str(client.create(wf)["metadata"]["name"])


def cron_history(name: str, cfg: NbflowConfig, cluster: Any = None) -> list[dict[str, Any]]:
    """The Workflows of CronWorkflow ``name`` still on the cluster, newest first."""
    with _client(cfg, cluster) as client:
        items = client.list_objects("Workflow", label_selector=f"{CRON_LABEL}={name}")
    rows = []
    for wf in items.get("items") or []:
        st = wf.get("status") or {}
        ann = (wf["metadata"].get("annotations") or {})
        rows.append({"run": wf["metadata"]["name"], "phase": st.get("phase") or "Pending",
                     "scheduledTime": ann.get("workflows.argoproj.io/scheduled-time", ""),
                     "startedAt": st.get("startedAt", ""), "finishedAt": st.get("finishedAt", "")})
    return sorted(rows, key=lambda r: r["startedAt"] or r["run"], reverse=True)
