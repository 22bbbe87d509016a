"""Which tasks of a DAG have their results in nbflow's cache, worked out before anything runs.

Keys are computed as the local engine computes them (:func:`nbflow.engine.cache.key_of`), from
the workflow's parameters and the cached outputs of the tasks before.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engine.cache import ResultCache, check_entry, key_of
from ..engine.index import DigestIndex, recorded_digests
from ..errors import NbflowError
from ..vocab import CACHE_ANNOTATION, CODE_ANNOTATION, DIGESTS, EXPECT, STEP_KEY

if TYPE_CHECKING:
    from ..artifacts import ArtifactStore

__all__ = ["Hit", "Finder", "task_deps", "topological", "cached_parameters", "cached_artifact"]

log = logging.getLogger(__name__)
_ITEM_KEY = "{{item._i}}"
_WORKFLOW_NAME = "\0workflow.name\0"
_FROM = re.compile(
    r"^\{\{\s*tasks\.([a-zA-Z0-9][-a-zA-Z0-9]*)\.outputs\.artifacts\.([^}\s]+)\s*\}\}$"
)
_SKIP = ("when", "hooks", "onExit", "withParam", "withSequence", "templateRef", "inline")


@dataclass
class Hit:
    """The cache entries of one task (one per item of a mapped task)."""

    keys: list[str]
    entries: list[dict[str, Any]]
    prefix_template: str | None = None  # mapped: the key prefix a fan-in reads, as compiled
    prefix: str | None = None  # ... and where the cached items live
    step_key: str = ""  # where its outputs go in this run, as compiled (``.../`` for a map)

    @functools.cached_property
    def digests(self) -> DigestIndex:
        """Content digests of the cached outputs (read once the entries are complete)."""
        index = DigestIndex()
        for entry in self.entries:
            index.add(entry.get("outputs") or {})
        return index


def task_deps(task: dict[str, Any]) -> list[str] | None:
    """The tasks ``task`` waits for (``None``: a ``depends`` expression that does not parse)."""
    from ..argo.depends import depends_tasks

    if "depends" in task:
        try:
            return depends_tasks(str(task["depends"]))
        except NbflowError:
            return None
    return list(task.get("dependencies") or [])


def topological(tasks: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``tasks`` in an order where each comes after those it waits for (``None``: no order)."""
    from ..errors import CycleError
    from ..graph import order, unknown

    by_name = {t["name"]: t for t in tasks}
    deps = {t["name"]: task_deps(t) for t in tasks}
    graph = {name: d for name, d in deps.items() if d is not None}
    if len(graph) < len(deps) or unknown(graph):
        return None
    try:
        return [by_name[n] for n in order(graph)]
    except CycleError:
        return None


class Finder:
    """Computes the cache keys of a DAG's tasks from the workflow parameters and cached tasks."""

    def __init__(self, spec: dict[str, Any], templates: dict[str, Any], store: ArtifactStore,
                 cache: ResultCache) -> None:
        self.templates = templates
        self.store = store
        self.cache = cache
        self.globals = {
            f"workflow.parameters.{p['name']}": str(p["value"])
            for p in (spec.get("arguments") or {}).get("parameters") or []
            if "value" in p and "{{" not in str(p["value"])
        }

    def lookup(self, task: dict[str, Any], hits: dict[str, Hit]) -> Hit | None:
        """The task's cache hit, or ``None`` when it must run."""
        from ..argo.depends import TaskResult, evaluate_depends
        from ..vocab import Phase

        tmpl = self.templates.get(task.get("template") or "")
        deps = task_deps(task)
        if tmpl is None or not _cacheable(tmpl) or any(k in task for k in _SKIP):
            return None
        if deps is None or any(d not in hits for d in deps):
            return None
        done = {d: TaskResult(Phase.SUCCEEDED) for d in deps}
        if not evaluate_depends(str(task.get("depends") or ""), done):
            return None  # it would not run after its dependencies succeed
        known = cached_parameters(hits)  # once: a mapped task's items all need them
        if "withItems" in task:
            return self._mapped(task, tmpl, hits, known)
        hit = self._hit(task, tmpl, {}, hits, known)
        step_key = _argument(task, STEP_KEY)
        if hit is not None and step_key:
            hit.step_key = step_key + "/"
        return hit

    def _mapped(self, task: dict[str, Any], tmpl: dict[str, Any], hits: dict[str, Hit],
                known: dict[str, str]) -> Hit | None:
        from ..engine.scope import item_scope

        items = task["withItems"]
        step_key = _argument(task, STEP_KEY) or ""
        if not isinstance(items, list) or not items or not step_key.endswith("/" + _ITEM_KEY):
            return None
        prefix = step_key[: -len(_ITEM_KEY)]
        out = Hit([], [], prefix_template=prefix, step_key=prefix)
        for item in items:
            hit = self._hit(task, tmpl, item_scope(item), hits, known)
            if hit is None:
                return None
            out.keys += hit.keys
            out.entries += hit.entries
        return out if _locate(out, task, items, self.globals) else None

    def _hit(self, task: dict[str, Any], tmpl: dict[str, Any], item: dict[str, str],
             hits: dict[str, Hit], known: dict[str, str]) -> Hit | None:
        digests: dict[str, str] = {}
        inputs = self._inputs(task, tmpl, {**self.globals, **item, **known}, hits, digests)
        key = key_of(inputs, tmpl, digests.get) if inputs is not None else None
        entry = self.cache.get(key) if key else None
        if key is None or entry is None:
            return None
        try:
            problem = check_entry(entry, self.store)
        except (NbflowError, OSError, KeyError) as exc:  # the store cannot be read: run it
            log.debug("cache entry %s of %s not checked: %s", key, task.get("name"), exc)
            return None
        if problem is not None:  # gone or changed: forget it, the task runs again
            log.info("cache entry of task %s dropped: %s", task.get("name"), problem)
            self.cache.drop(key)
            return None
        return Hit([key], [entry])

    def _inputs(self, task: dict[str, Any], tmpl: dict[str, Any], values: dict[str, str],
                hits: dict[str, Hit], digests: dict[str, str]) -> dict[str, Any] | None:
        """The inputs the pod would get (as the operator binds them, ``values`` the tags it
        knows), or ``None``."""
        from ..argo.subst import substitute
        from ..engine.scope import Scope

        scope = Scope(values)
        args = task.get("arguments") or {}
        given = {p["name"]: p for p in args.get("parameters") or []}
        params = []
        for p in (tmpl.get("inputs") or {}).get("parameters") or []:
            arg = given.get(p["name"], {})
            if p["name"] in (STEP_KEY, EXPECT):
                value = "?"  # where outputs go, input digests: not part of the key
            elif set(arg) - {"name", "value"}:
                return None
            elif "value" in arg:
                try:
                    value = substitute(str(arg["value"]), scope)
                except NbflowError:
                    return None
            elif "value" in p or "default" in p:
                value = str(p.get("value", p.get("default")))
            else:
                return None
            params.append({"name": p["name"], "value": value})
        arts = self._artifacts(tmpl, args, hits, digests)
        return None if arts is None else {"parameters": params, "artifacts": arts}

    def _artifacts(self, tmpl: dict[str, Any], args: dict[str, Any], hits: dict[str, Hit],
                   digests: dict[str, str]) -> list[dict[str, Any]] | None:
        given = {a["name"]: a for a in args.get("artifacts") or []}
        out = []
        for art in (tmpl.get("inputs") or {}).get("artifacts") or []:
            arg = given.get(art["name"]) or {}
            if "raw" in art and not arg:
                out.append({"name": art["name"], "raw": {}})
                continue
            found = cached_artifact(arg, hits)
            if found is None:
                return None
            key, digest = found
            digests[key] = digest
            out.append({"name": art["name"], "s3": {"key": key}})
        return out


def _cacheable(tmpl: dict[str, Any]) -> bool:
    annotations = (tmpl.get("metadata") or {}).get("annotations") or {}
    return (
        bool(annotations.get(CODE_ANNOTATION))
        and annotations.get(CACHE_ANNOTATION) != "false"
        and "memoize" not in tmpl
        and "container" in tmpl
    )


def _argument(task: dict[str, Any], name: str) -> str | None:
    for p in (task.get("arguments") or {}).get("parameters") or []:
        if p["name"] == name and "value" in p:
            return str(p["value"])
    return None


def cached_parameters(hits: dict[str, Hit]) -> dict[str, str]:
    """``tasks.T.outputs.parameters.P`` of the cached plain tasks (safe to write literally),
    and the ``nbflow-digests`` of every cached task (a mapped one's: the list of its items',
    as Argo aggregates them), which the steps that read their outputs check them against."""
    out = {}
    for name, hit in hits.items():
        if hit.prefix is not None:
            items = [recorded_digests(e.get("outputs") or {}) for e in hit.entries]
            out[f"tasks.{name}.outputs.parameters.{DIGESTS}"] = json.dumps(items)
            continue
        for p in (hit.entries[0].get("outputs") or {}).get("parameters") or []:
            value = p.get("value")
            if isinstance(value, str) and "{{" not in value:
                out[f"tasks.{name}.outputs.parameters.{p['name']}"] = value
    return out


def cached_artifact(arg: dict[str, Any], hits: dict[str, Hit]) -> tuple[str, str] | None:
    """(key, digest) of an input artifact taken from a cached task, else ``None``."""
    m = _FROM.match(str(arg.get("from") or ""))
    if m and m.group(1) in hits and hits[m.group(1)].prefix is None:
        entry = hits[m.group(1)].entries[0]
        for out in (entry.get("outputs") or {}).get("artifacts") or []:
            if out["name"] == m.group(2) and "key" in (out.get("s3") or {}):
                digest = hits[m.group(1)].digests.digest(out["s3"]["key"])
                return (out["s3"]["key"], digest) if digest else None
        return None
    key = (arg.get("s3") or {}).get("key") if set(arg) <= {"name", "s3"} else None
    for hit in hits.values():
        if hit.prefix is not None and key == hit.prefix_template:
            digest = hit.digests.digest(hit.prefix)
            return (hit.prefix, digest) if digest else None
    return None


def _locate(hit: Hit, task: dict[str, Any], items: list[Any], globals_: dict[str, str]) -> bool:
    """Whether the cached items all live under one prefix laid out as this run would write
    them (``<prefix><i>/...``), so a fan-in can read that prefix; sets ``hit.prefix``."""
    from ..argo.subst import substitute
    from ..engine.scope import Scope, item_scope

    template = hit.prefix_template or ""
    try:
        pattern = substitute(template, Scope({**globals_, "workflow.name": _WORKFLOW_NAME}))
    except NbflowError:
        return False
    if pattern.count(_WORKFLOW_NAME) != 1:
        return False
    before, after = (re.escape(s) for s in pattern.split(_WORKFLOW_NAME))
    names = set()
    for item, entry in zip(items, hit.entries):
        index = item_scope(item).get("item._i")
        if index is None:
            return False
        own = re.compile(f"{before}([^/]+){after}{re.escape(index)}/")
        for art in (entry.get("outputs") or {}).get("artifacts") or []:
            m = own.match((art.get("s3") or {}).get("key") or "")
            if m is None:
                return False
            names.add(m.group(1))
    if len(names) != 1:
        return False
    hit.prefix = pattern.replace(_WORKFLOW_NAME, names.pop())
    return True
