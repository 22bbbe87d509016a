"""Checks the Kubernetes API server and Argo enforce but Argo's JSON schema misses: size, CRD
limits, enums and CEL rules (``x-kubernetes-validations``) and the matching controller checks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Problem",
    "check_manifest",
    "dependencies_for_continue_on",
    "manifest_size",
    "workflow_spec",
    "SIZE_LIMIT",
    "SIZE_WARN",
    "MAX_DAG_TASKS",
    "MAX_TEMPLATES",
    "MAX_CRON_NAME",
    "ENUMS",
    "SCHEDULE",
]

#: etcd keeps objects up to ~1.5 MiB, and the spec must leave room for ``status.nodes``.
SIZE_LIMIT = 1024 * 1024
SIZE_WARN = SIZE_LIMIT * 3 // 4
#: ``maxItems`` of the full CRDs (upstream keeps CEL evaluation under its cost budget).
MAX_DAG_TASKS = 200
MAX_TEMPLATES = 200
MAX_INPUT_PARAMETERS = 500
#: Argo refuses longer CronWorkflow names: it appends a timestamp to make workflow names.
MAX_CRON_NAME = 52

_TASK_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_PLAIN_DEPENDS = re.compile(r"^\s*[a-zA-Z0-9][-a-zA-Z0-9]*(\s*&&\s*[a-zA-Z0-9][-a-zA-Z0-9]*)*\s*$")
_PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
_ARTIFACT_NAME = re.compile(r"^[-a-zA-Z0-9_{}.]+$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SCHEDULE = re.compile(
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every\s+([0-9]+(ns|us|µs|ms|s|m|h))+"
    r"|([A-Za-z0-9*,/?-]+\s+){4}[A-Za-z0-9*,/?-]+)$"
)
_TEMPLATE_TYPES = (
    "container", "script", "dag", "steps", "resource", "suspend", "containerSet", "data", "http",
    "plugin",
)
_LOCATIONS = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")
#: Enums of the CRDs (and of core fields nbflow sets) that the JSON schema leaves open.
ENUMS = {
    "retryPolicy": ("Always", "OnFailure", "OnError", "OnTransientError"),
    "concurrencyPolicy": ("Allow", "Forbid", "Replace"),
    "podGC.strategy": (
        "", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"
    ),
    "artifactGC.strategy": ("", "OnWorkflowCompletion", "OnWorkflowDeletion", "Never"),
    "imagePullPolicy": ("Always", "Never", "IfNotPresent"),
}
_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`check_manifest`.

    Parameters
    ----------
    level : str
        ``"error"`` (the API server or Argo rejects the manifest) or ``"warning"``.
    message : str
        What is wrong and how to fix it.
    where : str, optional
        Path of the offending field, e.g. ``spec.templates[main].dag.tasks[train]``.
    """

    level: str
    message: str
    where: str | None = None

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{self.level}: {where}{self.message}"


def manifest_size(manifest: dict[str, Any]) -> int:
    """Bytes of ``manifest`` as compact JSON, the form the API server stores."""
    return len(json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def workflow_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The ``WorkflowSpec`` of any Argo kind (a CronWorkflow's ``spec.workflowSpec``)."""
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronWorkflow":
        return spec.get("workflowSpec") or {}
    return spec


def check_manifest(manifest: dict[str, Any]) -> list[Problem]:
    """Check a Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow.

    Covers what :mod:`jsonschema` validation against Argo's ``schema.json`` cannot see: the
    object's size, the CRDs' ``maxItems``, enums and CEL rules, and the controller's DAG checks
    (``validate.go``) that reject a workflow after it was created.
    """
    kind = manifest.get("kind")
    if kind not in _KINDS:
        return [Problem("error", f"not an Argo workflow kind: {kind!r}", "kind")]
    problems = list(_size(manifest))
    problems += _metadata(manifest)
    if kind == "CronWorkflow":
        problems += _cron(manifest)
    prefix = "spec.workflowSpec" if kind == "CronWorkflow" else "spec"
    problems += _spec(workflow_spec(manifest), prefix)
    return problems


def dependencies_for_continue_on(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return a copy where DAGs that mix ``depends`` and ``continueOn`` use ``dependencies``.

    Argo rejects ``continueOn`` anywhere in a DAG that uses ``depends``; when every ``depends``
    of such a DAG is a plain ``a && b``, the ``dependencies: [a, b]`` form means the same (bare
    names, continueOn honoured) and Argo accepts it. Other DAGs are left as they are.
    """
    import copy

    out = copy.deepcopy(manifest)
    for tmpl in workflow_spec(out).get("templates") or []:
        tasks = (tmpl.get("dag") or {}).get("tasks") or []
        mixed = any("continueOn" in t for t in tasks) and any(t.get("depends") for t in tasks)
        if not mixed or not all(_PLAIN_DEPENDS.match(t.get("depends") or "a") for t in tasks):
            continue
        for task in tasks:
            if task.get("depends"):
                task["dependencies"] = [d.strip() for d in task.pop("depends").split("&&")]
    return out


# ------------------------------------------------------------------ object


def _size(manifest: dict[str, Any]) -> Iterator[Problem]:
    size = manifest_size(manifest)
    if size < SIZE_WARN:
        return
    sizes = sorted(
        ((manifest_size(t), t.get("name", "?")) for t in workflow_spec(manifest).get("templates")
         or []),
        reverse=True,
    )
    biggest = ", ".join(f"{name} ({n // 1024} KiB)" for n, name in sizes[:3])
    level = "error" if size > SIZE_LIMIT else "warning"
    yield Problem(
        level,
        f"the manifest is {size // 1024} KiB, {'over' if level == 'error' else 'close to'} the "
        f"{SIZE_LIMIT // 1024} KiB an object can hold once its status grows (largest templates: "
        f"{biggest}); keep data out of cells' code, or share templates with --template-ref",
        None,
    )


def _metadata(manifest: dict[str, Any]) -> Iterator[Problem]:
    meta = manifest.get("metadata") or {}
    name, generate = str(meta.get("name") or ""), str(meta.get("generateName") or "")
    if not name and not generate:
        yield Problem("error", "metadata needs a name or a generateName", "metadata")
        return
    text = name or (generate + "x")
    if not _DNS_SUBDOMAIN.match(text) or len(text) > 253:
        yield Problem(
            "error",
            f"{name or generate!r} is not a valid object name (lower-case letters, digits, '-' "
            "and '.', starting and ending with a letter or digit)",
            "metadata.name" if name else "metadata.generateName",
        )
    if manifest.get("kind") == "Workflow" and len(name or (generate + "xxxxx")) > 63:
        yield Problem(
            "warning",
            "workflow names over 63 characters cannot be label values: Argo labels every pod "
            "with its workflow's name",
            "metadata",
        )


def _cron(manifest: dict[str, Any]) -> Iterator[Problem]:
    spec = manifest.get("spec") or {}
    name = (manifest.get("metadata") or {}).get("name") or ""
    if len(name) > MAX_CRON_NAME:
        yield Problem(
            "error",
            f"a CronWorkflow name can have at most {MAX_CRON_NAME} characters ({len(name)})",
            "metadata.name",
        )
    schedules = spec.get("schedules") or []
    if not schedules:
        yield Problem("error", "a CronWorkflow needs at least one schedule", "spec.schedules")
    for i, text in enumerate(schedules):
        if not isinstance(text, str) or not SCHEDULE.match(text):
            yield Problem(
                "error",
                f"{text!r} is not a cron schedule (five fields, @daily-style macro or @every "
                "DURATION)",
                f"spec.schedules[{i}]",
            )
    yield from _enum(spec, "concurrencyPolicy", "spec")
    tz = spec.get("timezone")
    if tz:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            yield Problem("error", f"unknown time zone {tz!r}", "spec.timezone")


# ------------------------------------------------------------------ spec and templates


def _spec(spec: dict[str, Any], prefix: str) -> Iterator[Problem]:
    templates = spec.get("templates") or []
    if len(templates) > MAX_TEMPLATES:
        yield Problem(
            "error",
            f"{len(templates)} templates, over the {MAX_TEMPLATES} the CRD allows",
            f"{prefix}.templates",
        )
    for key in ("podGC.strategy", "artifactGC.strategy"):
        yield from _enum(spec, key, prefix)
    if spec.get("retryStrategy"):
        yield from _enum(spec["retryStrategy"], "retryPolicy", f"{prefix}.retryStrategy")
    yield from _arguments(spec.get("arguments") or {}, f"{prefix}.arguments")
    names = {t.get("name") for t in templates}
    for tmpl in templates:
        yield from _template(tmpl, f"{prefix}.templates[{tmpl.get('name')}]", names)


def _template(tmpl: dict[str, Any], where: str, names: set[Any]) -> Iterator[Problem]:
    name = str(tmpl.get("name") or "")
    if not _TASK_NAME.match(name) or len(name) > 128:
        yield Problem("error", f"invalid template name {name!r}", where)
    types = [k for k in _TEMPLATE_TYPES if k in tmpl]
    if len(types) > 1:
        yield Problem(
            "error", f"template must have at most one template type ({', '.join(types)})", where
        )
    if ("dag" in tmpl or "steps" in tmpl) and tmpl.get("timeout"):
        yield Problem("error", "timeout cannot be applied to steps or dag templates", where)
    if ("dag" in tmpl or "steps" in tmpl) and "activeDeadlineSeconds" in tmpl:
        yield Problem("error", "activeDeadlineSeconds is only valid for leaf templates", where)
    inputs = tmpl.get("inputs") or {}
    if len(inputs.get("parameters") or []) > MAX_INPUT_PARAMETERS:
        yield Problem(
            "error", f"more than {MAX_INPUT_PARAMETERS} input parameters", f"{where}.inputs"
        )
    for p in inputs.get("parameters") or []:
        yield from _param_name(p, f"{where}.inputs.parameters")
    for kind in ("inputs", "outputs"):
        for a in (tmpl.get(kind) or {}).get("artifacts") or []:
            yield from _artifact(a, f"{where}.{kind}.artifacts")
    if tmpl.get("retryStrategy"):
        yield from _enum(tmpl["retryStrategy"], "retryPolicy", f"{where}.retryStrategy")
    if tmpl.get("container"):
        yield from _enum(tmpl["container"], "imagePullPolicy", f"{where}.container")
    if "dag" in tmpl:
        yield from _dag(tmpl["dag"], f"{where}.dag", names)


def _dag(dag: dict[str, Any], where: str, names: set[Any]) -> Iterator[Problem]:
    tasks = dag.get("tasks") or []
    if not tasks:
        yield Problem("error", "a DAG needs at least one task", f"{where}.tasks")
    if len(tasks) > MAX_DAG_TASKS:
        yield Problem(
            "error",
            f"{len(tasks)} tasks, over the {MAX_DAG_TASKS} a DAG template can hold: nest them "
            "(nbflow.argo.nesting.nest_large_dags)",
            f"{where}.tasks",
        )
    using_depends = any(t.get("depends") for t in tasks)
    for task in tasks:
        yield from _task(task, f"{where}.tasks[{task.get('name')}]", names, using_depends)


def _task(
    task: dict[str, Any], where: str, names: set[Any], using_depends: bool
) -> Iterator[Problem]:
    name = str(task.get("name") or "")
    if not _TASK_NAME.match(name) or len(name) > 128:
        yield Problem("error", f"invalid task name {name!r}", where)
    has_deps = bool(task.get("depends") or task.get("dependencies"))
    if has_deps and name[:1].isdigit():
        yield Problem(
            "error", "task name cannot begin with a digit when using 'depends' or 'dependencies'",
            where,
        )
    if task.get("depends") and task.get("dependencies"):
        yield Problem("error", "cannot use both 'depends' and 'dependencies'", where)
    elif using_depends and task.get("dependencies"):
        yield Problem(
            "error", "cannot use both 'depends' and 'dependencies' in the same DAG template", where
        )
    if using_depends and "continueOn" in task:
        # The CRD's CEL rule is per task; Argo's validate.go rejects it anywhere in the DAG.
        yield Problem(
            "error",
            "cannot use 'continueOn' when using 'depends' in the same DAG template: write "
            "'dependencies' instead, or 'task.Failed'/'task.Errored' in the dependents' depends",
            where,
        )
    seq = task.get("withSequence") or {}
    if "count" in seq and "end" in seq:
        yield Problem("error", "only one of count or end can be defined", f"{where}.withSequence")
    if "template" in task and task["template"] not in names:
        yield Problem("error", f"task uses template {task['template']!r}, which is not defined",
                      where)
    if "template" not in task and "templateRef" not in task and "inline" not in task:
        yield Problem("error", "task names no template (template, templateRef or inline)", where)
    yield from _arguments(task.get("arguments") or {}, f"{where}.arguments")


def _arguments(args: dict[str, Any], where: str) -> Iterator[Problem]:
    for p in args.get("parameters") or []:
        yield from _param_name(p, f"{where}.parameters")
    for a in args.get("artifacts") or []:
        yield from _artifact(a, f"{where}.artifacts")


def _param_name(param: dict[str, Any], where: str) -> Iterator[Problem]:
    name = str(param.get("name") or "")
    if not _PARAM_NAME.match(name):
        yield Problem("error", f"invalid parameter name {name!r}", where)


def _artifact(art: dict[str, Any], where: str) -> Iterator[Problem]:
    name = str(art.get("name") or "")
    if not _ARTIFACT_NAME.match(name):
        yield Problem("error", f"invalid artifact name {name!r}", where)
    located = [k for k in _LOCATIONS if k in art]
    if len(located) > 1:
        yield Problem(
            "error",
            f"artifact {name!r}: at most one artifact location can be specified "
            f"({', '.join(located)})",
            where,
        )
    if art.get("artifactGC"):
        yield from _enum(art, "artifactGC.strategy", where)


def _enum(obj: dict[str, Any], key: str, where: str) -> Iterator[Problem]:
    head, _, tail = key.partition(".")
    value = (obj.get(head) or {}).get(tail) if tail else obj.get(head)
    if value is None:
        return
    allowed = ENUMS[key]
    if value not in allowed:
        choices = ", ".join(repr(v) for v in allowed if v)
        yield Problem("error", f"{key} {value!r} is not one of {choices}", f"{where}.{key}")
