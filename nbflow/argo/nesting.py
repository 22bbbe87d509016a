"""Split a DAG template of more than 200 tasks (the CRD's ``maxItems``) into nested DAGs.

Tasks are grouped into *parts*: consecutive slices of a topological order, so the parts form a
DAG of their own. Tasks that must see each other stay in one part: a ``when``, parameter or
``withParam`` reference to another task, or a ``depends`` with more than bare task names. An
artifact passed across parts with ``from: {{tasks.X.outputs.artifacts.Y}}`` becomes the key of
that output in the artifact repository (nbflow's keys do not depend on the attempt), which is
what Argo resolves ``from`` to anyway. Fan-out stays one task (``withItems``/``withParam``).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from ..errors import ManifestError
from ..graph import find_cycle, order
from ..vocab import LOOP_FIELDS
from .limits import MAX_DAG_TASKS, workflow_spec

__all__ = ["nest_large_dags", "task_nodes", "PART"]

#: Part templates are named ``<dag template>-part-<n>``, their tasks ``part-<n>``; when more
#: than 200 parts need nesting again, ``parts-<first>-<last>``.
PART = "part"
_PLAIN = re.compile(r"^\s*[a-zA-Z0-9][-a-zA-Z0-9]*(\s*&&\s*[a-zA-Z0-9][-a-zA-Z0-9]*)*\s*$")
_REF = re.compile(r"tasks\.([a-zA-Z0-9][-a-zA-Z0-9]*)\.|tasks\[\s*['\"]([^'\"]+)['\"]\s*\]")
_FROM = re.compile(
    r"^\{\{\s*tasks\.([a-zA-Z0-9][-a-zA-Z0-9]*)\.outputs\.artifacts\.([^}\s]+)\s*\}\}$"
)
_TAG = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")


def nest_large_dags(manifest: dict[str, Any], max_tasks: int = MAX_DAG_TASKS) -> dict[str, Any]:
    """Return a copy of ``manifest`` where no DAG template has more than ``max_tasks`` tasks.

    A manifest that needs no change is returned as an unchanged copy.

    Raises
    ------
    ManifestError
        More than ``max_tasks`` tasks are tied together (see the module docstring), or the DAG
        uses ``target``, which nesting cannot keep.
    """
    if max_tasks < 2:
        raise ValueError("max_tasks must be at least 2")
    out = copy.deepcopy(manifest)
    spec = workflow_spec(out)
    templates = spec.get("templates") or []
    library = {t["name"]: t for t in templates}
    taken = set(library)
    result: list[dict[str, Any]] = []
    for tmpl in templates:
        if len((tmpl.get("dag") or {}).get("tasks") or []) > max_tasks:
            result += _split(tmpl, library, max_tasks, taken)
        else:
            result.append(tmpl)
    if templates:
        spec["templates"] = result
    return out


def task_nodes(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Nodes of the entry DAG's tasks by task name, looking through nested parts."""
    spec = workflow_spec(workflow)
    templates = {t["name"]: t for t in spec.get("templates") or []}
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    by_name = {n["name"]: n for n in nodes.values()}
    out: dict[str, dict[str, Any]] = {}

    def visit(template: str, prefix: str, base: str) -> None:
        for task in (templates.get(template, {}).get("dag") or {}).get("tasks") or []:
            node = by_name.get(f"{prefix}.{task['name']}")
            if node is None:
                continue
            if task.get("template", "").startswith(f"{base}-{PART}"):
                visit(task["template"], node["name"], base)
            else:
                out[task["name"]] = node

    entry = spec.get("entrypoint", "")
    visit(entry, (workflow.get("metadata") or {}).get("name", ""), entry)
    return out


# ------------------------------------------------------------------ splitting


def _split(
    tmpl: dict[str, Any],
    library: dict[str, Any],
    max_tasks: int,
    taken: set[str],
    upper: bool = False,
) -> list[dict[str, Any]]:
    where = f"template {tmpl['name']}"
    dag = tmpl["dag"]
    if dag.get("target"):
        raise ManifestError("a DAG with a 'target' cannot be nested", where)
    if (tmpl.get("inputs") or {}).get("artifacts") or tmpl.get("outputs"):
        raise ManifestError("a DAG with input artifacts or outputs cannot be nested", where)
    tasks = {t["name"]: t for t in dag["tasks"]}
    deps = {name: _dependencies(t) for name, t in tasks.items()}
    keys, glue = _ties(tasks, deps, library)
    groups = _pack(list(tasks), deps, glue, max_tasks, where)
    group_of = {name: i for i, members in enumerate(groups, 1) for name in members}
    params = [p["name"] for p in (tmpl.get("inputs") or {}).get("parameters") or []]
    extra = {k: v for k, v in dag.items() if k != "tasks"}
    parts, parent_tasks = [], []
    labels = [_label(members, i, upper) for i, members in enumerate(groups, 1)]
    for i, members in enumerate(groups, 1):
        name = _unique(f"{tmpl['name']}-{labels[i - 1]}", taken)
        inner = [_rewrite(tasks[n], deps[n], group_of, i, keys) for n in members]
        part: dict[str, Any] = {"name": name}
        if params:
            part["inputs"] = {"parameters": [{"name": p} for p in params]}
        parts.append({**part, "dag": {**extra, "tasks": inner}})
        ups = sorted({group_of[d] for n in members for d in deps[n] if group_of[d] != i})
        task: dict[str, Any] = {"name": labels[i - 1], "template": name}
        if ups:
            task["depends"] = " && ".join(labels[u - 1] for u in ups)
        if params:
            values = [{"name": p, "value": f"{{{{inputs.parameters.{p}}}}}"} for p in params]
            task["arguments"] = {"parameters": values}
        parent_tasks.append(task)
    parent = {**tmpl, "dag": {**extra, "tasks": parent_tasks}}
    if len(parent_tasks) > max_tasks:
        return _split(parent, library, max_tasks, taken, upper=True) + parts
    return [parent, *parts]


def _label(members: list[str], index: int, upper: bool) -> str:
    """``part-<n>``; a part of parts is ``parts-<first>-<last>`` of the parts it holds."""
    if not upper:
        return f"{PART}-{index}"
    numbers = [int(x) for m in (members[0], members[-1]) for x in m.split("-")[1:]]
    return f"{PART}s-{numbers[0]}-{numbers[-1]}"


def _dependencies(task: dict[str, Any]) -> list[str]:
    from .depends import depends_tasks

    if task.get("depends"):
        return depends_tasks(task["depends"], where=f"task {task['name']}")
    return list(task.get("dependencies") or [])


def _ties(
    tasks: dict[str, dict[str, Any]], deps: dict[str, list[str]], library: dict[str, Any]
) -> tuple[dict[tuple[str, str], str], list[tuple[str, str]]]:
    """Keys of artifacts passed by ``from`` that can cross parts, and pairs that cannot part."""
    keys: dict[tuple[str, str], str] = {}
    glue: list[tuple[str, str]] = []
    for name, task in tasks.items():
        if task.get("depends") and not _PLAIN.match(task["depends"]):
            glue += [(name, d) for d in deps[name]]
        rest = {k: v for k, v in task.items() if k not in ("name", "depends", "dependencies")}
        args = dict(rest.get("arguments") or {})
        kept = []
        for art in args.get("artifacts") or []:
            m = _FROM.match(str(art.get("from", "")).strip())
            key = _output_key(tasks.get(m.group(1)), m.group(2), library) if m else None
            if m and key is not None:
                keys[(name, art["name"])] = key
            else:
                kept.append(art)
        rest["arguments"] = {**args, "artifacts": kept}
        text = json.dumps(rest)
        for m in _REF.finditer(text):
            ref = m.group(1) or m.group(2)
            if ref in tasks and ref != name:
                glue.append((name, ref))
    return keys, glue


def _output_key(
    producer: dict[str, Any] | None, artifact: str, library: dict[str, Any]
) -> str | None:
    """The repository key of ``artifact`` of ``producer``, if it is the same in every scope."""
    if producer is None or any(k in producer for k in LOOP_FIELDS):
        return None
    tmpl = library.get(producer.get("template", ""))
    out = next(
        (a for a in ((tmpl or {}).get("outputs") or {}).get("artifacts") or []
         if a.get("name") == artifact),
        None,
    )
    key = ((out or {}).get("s3") or {}).get("key")
    if not isinstance(key, str):
        return None
    given = {p["name"]: p.get("value") for p in (producer.get("arguments") or {}).get("parameters")
             or []}
    for p in ((tmpl or {}).get("inputs") or {}).get("parameters") or []:
        value = given.get(p["name"], p.get("value", p.get("default")))
        if value is not None:
            pattern = r"\{\{\s*inputs\.parameters\." + re.escape(p["name"]) + r"\s*\}\}"
            key = re.sub(pattern, str(value).replace("\\", "\\\\"), key)
    if any(not tag.startswith("workflow.") for tag in _TAG.findall(key)):
        return None
    return key


def _pack(
    names: list[str],
    deps: dict[str, list[str]],
    glue: list[tuple[str, str]],
    max_tasks: int,
    where: str,
) -> list[list[str]]:
    """Group tasks into parts of at most ``max_tasks``, in a topological order of atoms."""
    index = {n: i for i, n in enumerate(names)}
    find = _atoms(names, deps, glue, index)
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(find(n), []).append(n)
    too_big = [m for m in members.values() if len(m) > max_tasks]
    if too_big:
        raise ManifestError(
            f"{len(too_big[0])} tasks (from {too_big[0][0]!r}) are tied together by when, "
            f"parameter or depends references across them; a DAG part holds at most {max_tasks}",
            where,
        )
    groups: list[list[str]] = [[]]
    for atom in _atom_order(names, deps, find, index):
        if groups[-1] and len(groups[-1]) + len(members[atom]) > max_tasks:
            groups.append([])
        groups[-1] += members[atom]
    return [sorted(g, key=index.__getitem__) for g in groups]


def _atoms(
    names: list[str], deps: dict[str, list[str]], glue: list[tuple[str, str]],
    index: dict[str, int],
) -> Any:
    """Union-find of tasks that must share a part: tied pairs, and atoms on a cycle (a tie can
    span a path through another atom). Returns ``find``: task -> its atom's first task."""
    parent = {n: n for n in names}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb, key=index.__getitem__)] = min(ra, rb, key=index.__getitem__)

    for a, b in glue:
        union(a, b)
    while True:
        cycle = find_cycle(_atom_edges(names, deps, find))
        if not cycle:
            return find
        for a in cycle[1:]:
            union(cycle[0], a)


def _atom_edges(names: list[str], deps: dict[str, list[str]], find: Any) -> dict[str, set[str]]:
    ups: dict[str, set[str]] = {find(n): set() for n in names}
    for n in names:
        ups[find(n)] |= {find(d) for d in deps[n] if d in deps and find(d) != find(n)}
    return ups


def _atom_order(
    names: list[str], deps: dict[str, list[str]], find: Any, index: dict[str, int]
) -> list[str]:
    """The atoms in dependency order, earliest-defined first among the ready ones."""
    return order(_atom_edges(names, deps, find), rank=index.__getitem__)


def _rewrite(
    task: dict[str, Any],
    deps: list[str],
    group_of: dict[str, int],
    group: int,
    keys: dict[tuple[str, str], str],
) -> dict[str, Any]:
    out = copy.deepcopy(task)
    inside = [d for d in deps if group_of.get(d) == group]
    if len(inside) != len(deps):  # only plain conjunctions reach here with outside names
        for field in ("depends", "dependencies"):
            out.pop(field, None)
        if inside and task.get("depends"):
            out["depends"] = " && ".join(inside)
        elif inside:
            out["dependencies"] = inside
    for art in (out.get("arguments") or {}).get("artifacts") or []:
        m = _FROM.match(str(art.get("from", "")).strip())
        if m and group_of.get(m.group(1)) != group:
            del art["from"]
            art["s3"] = {"key": keys[(task["name"], art["name"])]}
    return out


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name}-{n}"
    taken.add(out)
    return out
