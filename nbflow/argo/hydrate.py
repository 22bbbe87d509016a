"""Make a Workflow self-contained before it runs, as Argo's controller sees it: the spec of its
``workflowTemplateRef``, the templates its ``templateRef`` calls name, ``inline`` templates,
``templateDefaults``, and parameter values read from ConfigMaps.

The result is an ordinary Workflow whose calls all name one of its own templates, so the
operator never has to know where a template came from. A template copied from a
(Cluster)WorkflowTemplate keeps its name unless the workflow already has a different template
of that name; it is then called ``<WorkflowTemplate>/<template>``. An inline template is called
``<template>/<task or step>``.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ManifestError
from .objects import ClusterObjects

__all__ = ["hydrate", "merge_defaults", "template_calls", "TEMPLATE_TYPES"]

#: The fields that make a template what it is (one per template).
TEMPLATE_TYPES = (
    "container",
    "script",
    "dag",
    "steps",
    "suspend",
    "resource",
    "http",
    "plugin",
    "containerSet",
    "data",
)
# Lists that Kubernetes' strategic merge patch merges item by item, by this key.
_MERGE_KEYS = {
    "env": "name",
    "volumeMounts": "mountPath",
    "volumes": "name",
    "ports": "containerPort",
}


def hydrate(workflow: dict[str, Any], objects: ClusterObjects | None = None) -> dict[str, Any]:
    """A copy of ``workflow`` that holds every template it runs, with defaults merged in.

    Raises
    ------
    ManifestError
        A referenced (Cluster)WorkflowTemplate, template or ConfigMap key is missing.
    """
    wf = copy.deepcopy(workflow)
    objects = objects if objects is not None else ClusterObjects()
    spec = wf.setdefault("spec", {})
    ref = spec.get("workflowTemplateRef")
    if ref:
        spec = wf["spec"] = _join_specs(spec, objects.template(ref, "spec.workflowTemplateRef"))
    _Resolver(spec, objects).run()
    defaults = spec.get("templateDefaults")
    if defaults:
        spec["templates"] = [merge_defaults(t, defaults) for t in spec.get("templates") or []]
    _resolve_parameters(spec, objects)
    return wf


def _join_specs(own: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """The workflow's spec over the WorkflowTemplate's (Argo's ``JoinWorkflowSpec``): fields
    the workflow sets win; arguments are merged by name."""
    base = copy.deepcopy(template.get("spec") or {})
    joined = {**base, **{k: v for k, v in own.items() if k != "arguments"}}
    for kind in ("parameters", "artifacts"):
        theirs = ((base.get("arguments") or {}).get(kind)) or []
        mine = {p["name"]: p for p in ((own.get("arguments") or {}).get(kind)) or []}
        merged = [mine.pop(p["name"], p) for p in theirs] + list(mine.values())
        if merged:
            joined.setdefault("arguments", {})[kind] = merged
    joined["workflowTemplateRef"] = own["workflowTemplateRef"]
    return joined


class _Resolver:
    """Copies referenced and inline templates into the workflow, renaming calls to them."""

    def __init__(self, spec: dict[str, Any], objects: ClusterObjects) -> None:
        self.spec = spec
        self.objects = objects
        self.templates: list[dict[str, Any]] = spec.setdefault("templates", [])
        self.by_name = {t.get("name"): t for t in self.templates}
        self.copied: dict[tuple[bool, str, str], str] = {}  # (cluster, source, template) -> name

    def run(self) -> None:
        own = {name: name for name in self.by_name}
        for tmpl in list(self.templates):
            self._calls(tmpl, own, None)
        for hook in (self.spec.get("hooks") or {}).values():
            self._call(hook, own, None, "spec.hooks")

    def _calls(self, tmpl: dict[str, Any], names: dict[str, str], source: Any) -> None:
        """Rewrite every call in ``tmpl``; ``names`` maps its sibling templates' names."""
        for call in template_calls(tmpl):
            where = f"template {tmpl.get('name')}, {call.get('name')}"
            self._call(call, names, source, where, parent=tmpl.get("name", ""))
            for hook in (call.get("hooks") or {}).values():
                self._call(hook, names, source, where)

    def _call(
        self,
        call: dict[str, Any],
        names: dict[str, str],
        source: Any,
        where: str,
        parent: str = "",
    ) -> None:
        if "inline" in call:
            body = call.pop("inline")
            name = self._unique(f"{parent}/{call.get('name')}")
            self._add({**copy.deepcopy(body), "name": name})
            self._calls(self.by_name[name], names, source)
            call["template"] = name
        elif "templateRef" in call:
            call["template"] = self._reference(call.pop("templateRef"), where)
        elif "template" in call and source is not None:
            call["template"] = self._sibling(source, call["template"], where)
        for key in ("onExit",):
            if key in call and source is not None:
                call[key] = self._sibling(source, call[key], where)

    def _reference(self, ref: dict[str, Any], where: str) -> str:
        source = self.objects.template(ref, where)
        return self._sibling(source, ref.get("template", ""), where)

    def _sibling(self, source: dict[str, Any], name: str, where: str) -> str:
        """The workflow's name for template ``name`` of ``source``, copying it once."""
        meta = source.get("metadata") or {}
        key = (source.get("kind") == "ClusterWorkflowTemplate", meta.get("name", ""), name)
        if key in self.copied:
            return self.copied[key]
        found = next(
            (t for t in (source.get("spec") or {}).get("templates") or [] if t.get("name") == name),
            None,
        )
        if found is None:
            raise ManifestError(f"{source.get('kind')} {key[1]!r} has no template {name!r}", where)
        mine = self.by_name.get(name)
        target = name if mine is None or mine == found else self._unique(f"{key[1]}/{name}")
        self.copied[key] = target
        if mine is None or target != name:
            self._add({**copy.deepcopy(found), "name": target})
        self._calls(self.by_name[target], {}, source)
        return target

    def _unique(self, name: str) -> str:
        out, n = name, 1
        while out in self.by_name:
            n += 1
            out = f"{name}-{n}"
        return out

    def _add(self, tmpl: dict[str, Any]) -> None:
        self.templates.append(tmpl)
        self.by_name[tmpl["name"]] = tmpl


def merge_defaults(tmpl: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``templateDefaults`` under ``tmpl``: the template's own values win; the defaults of
    another template type (a ``container`` for a ``dag``) are left out (``operator.go``
    ``mergedTemplateDefaultsInto``)."""
    kind = next((k for k in TEMPLATE_TYPES if k in tmpl), None)
    usable = {k: v for k, v in defaults.items() if k not in TEMPLATE_TYPES or k == kind}
    return _merge(usable, tmpl)


def _merge(base: Any, over: Any, key: str = "") -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    merge_key = _MERGE_KEYS.get(key)
    if merge_key and isinstance(base, list) and isinstance(over, list):
        mine = {item.get(merge_key): item for item in over if isinstance(item, dict)}
        kept = [copy.deepcopy(b) for b in base if b.get(merge_key) not in mine]
        return kept + copy.deepcopy(over)
    return copy.deepcopy(over)


def _resolve_parameters(spec: dict[str, Any], objects: ClusterObjects) -> None:
    """Parameters whose value comes from a ConfigMap get that value (workflow arguments) or
    that default (template inputs), as the controller reads it before the run."""
    for p in (spec.get("arguments") or {}).get("parameters") or []:
        value = _from_config_map(p, objects, f"spec.arguments.parameters.{p.get('name')}")
        if value is not None:
            p["value"] = value
    for tmpl in spec.get("templates") or []:
        for p in (tmpl.get("inputs") or {}).get("parameters") or []:
            where = f"template {tmpl.get('name')}, inputs.parameters.{p.get('name')}"
            value = _from_config_map(p, objects, where)
            if value is not None and "value" not in p:
                p["default"] = value


def _from_config_map(param: dict[str, Any], objects: ClusterObjects, where: str) -> str | None:
    ref = (param.get("valueFrom") or {}).get("configMapKeyRef")
    if not ref or "value" in param:
        return None
    value = objects.config_map_key(ref, where)
    if value is None:
        default = (param.get("valueFrom") or {}).get("default", param.get("default"))
        return None if default is None else str(default)
    return value


def template_calls(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls of a template: its DAG's tasks, or its steps (every group's, in order)."""
    calls = list((tmpl.get("dag") or {}).get("tasks") or [])
    return calls + [step for group in tmpl.get("steps") or [] for step in group or []]
