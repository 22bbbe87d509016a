"""The graph model of a run, derived from its Workflow dict alone (spec and Argo-shaped status)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..argo.depends import depends_tasks
from ..engine.nodes import active_seconds, node_id, parse_timestamp
from ..vocab import NodeType

__all__ = [
    "GraphNode",
    "Shape",
    "PHASES",
    "graph_shape",
    "task_state",
    "task_states",
    "run_info",
    "tasks_of",
    "format_seconds",
    "item_label",
    "readable_when",
    "STOPPED",
]

Node = dict[str, Any]

# Every phase has an icon and a word besides its colour, so that it reads without colour.
PHASES: dict[str, dict[str, str]] = {
    "Pending": {"icon": "○", "label": "pending"},
    "Running": {"icon": "◐", "label": "running"},
    "Succeeded": {"icon": "✔", "label": "succeeded"},
    "Failed": {"icon": "✖", "label": "failed"},
    "Error": {"icon": "⚠", "label": "error"},
    "Skipped": {"icon": "»", "label": "skipped"},
    "Omitted": {"icon": "⊘", "label": "omitted"},
}
_ORDER = tuple(PHASES)
_TASK_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
_BACKOFF = re.compile(r"^Backoff for (\S+)(?: (second|minute|hour)s?\b)?")
_NODE_REF = re.compile(r"'([A-Za-z0-9][-\w.]*-\d+)'")
MESSAGE_MAX = 300
#: How the message of a step that a stop or terminate ended begins (Argo's words).
STOPPED = "Stopped with strategy"


@dataclass(frozen=True)
class GraphNode:
    """One node of the drawn graph: a task of the entry DAG, the exit handler, or the run itself.

    ``kind`` is ``"task"``, ``"group"`` (a mapped task: one node for all its items) or
    ``"exit"``. ``node_name`` is the Argo node name whose record holds its state.
    """

    id: str
    template: str
    kind: str
    node_name: str
    retry_limit: int | None = None
    when: str = ""  # its condition (``.when(...)``), readable


@dataclass(frozen=True)
class Shape:
    """What the layout depends on: nodes and edges. It does not change while a run goes on."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str, str], ...]  # (from, to, kind): kind "dep" or "exit"

    def to_json(self) -> dict[str, Any]:
        """The shape as JSON for the frontend."""
        return {
            "nodes": [
                {"id": n.id, "label": n.id, "template": n.template, "kind": n.kind,
                 **({"when": n.when} if n.when else {})}
                for n in self.nodes
            ],
            "edges": [{"from": a, "to": b, "kind": k} for a, b, k in self.edges],
        }


def graph_shape(workflow: dict[str, Any]) -> Shape:
    """The graph of ``workflow``: its entry DAG's tasks and their dependencies, plus ``onExit``.

    A workflow whose entry template is not a DAG is drawn as one node.
    """
    run = workflow["metadata"]["name"]
    spec = workflow.get("spec") or {}
    templates = {t["name"]: t for t in spec.get("templates") or []}
    entry = templates.get(spec.get("entrypoint", ""), {})
    tasks = (entry.get("dag") or {}).get("tasks") or []
    nodes: list[GraphNode] = []
    edges: list[tuple[str, str, str]] = []
    if not tasks:
        name = spec.get("entrypoint", run)
        nodes.append(GraphNode(name, name, "task", run, _limit(templates.get(name))))
    for task in tasks:
        tmpl = _template_name(task)
        mapped = any(k in task for k in ("withItems", "withParam", "withSequence"))
        nodes.append(
            GraphNode(
                task["name"],
                tmpl,
                "group" if mapped else "task",
                f"{run}.{task['name']}",
                _limit(templates.get(tmpl)),
                readable_when(str(task.get("when") or "")),
            )
        )
        for dep in _dependencies(task):
            edges.append((dep, task["name"], "dep"))
    if spec.get("onExit"):
        depended = {a for a, _, _ in edges}
        leaves = [n.id for n in nodes if n.id not in depended]
        nodes.append(GraphNode("onExit", spec["onExit"], "exit", f"{run}.onExit"))
        edges += [(leaf, "onExit", "exit") for leaf in leaves]
    return Shape(tuple(nodes), tuple(edges))


_REF = re.compile(r"\{\{\s*(?:tasks\.([\w-]+)\.outputs\.(?:parameters\.)?([\w-]+)"
                  r"|(?:workflow\.parameters|inputs\.parameters)\.([\w-]+)"
                  r"|tasks\.([\w-]+)\.status)\s*\}\}")


def readable_when(expr: str) -> str:
    """A ``when`` condition with its references as the user named them:
    ``{{tasks.check.outputs.parameters.ok}} == true`` reads ``check.ok == true``."""

    def ref(m: re.Match[str]) -> str:
        if m.group(1):
            return f"{m.group(1)}.{m.group(2)}"
        return m.group(3) or f"{m.group(4)}.status"

    return _REF.sub(ref, expr).strip()


def _template_name(task: dict[str, Any]) -> str:
    if task.get("template"):
        return str(task["template"])
    ref = task.get("templateRef") or {}
    return str(ref.get("template") or ref.get("name") or "inline")


def _dependencies(task: dict[str, Any]) -> list[str]:
    if task.get("depends"):
        return depends_tasks(task["depends"])
    return list(task.get("dependencies") or [])


def _limit(template: dict[str, Any] | None) -> int | None:
    strategy = (template or {}).get("retryStrategy")
    if strategy is None:
        return None
    limit = strategy.get("limit")
    return int(limit) if limit is not None else -1  # -1: retried without limit


# ------------------------------------------------------------------ node states


def tasks_of(run: str, names: list[str]) -> set[str]:
    """The graph node ids that changes to the nodes named ``names`` affect.

    ``run.task``, ``run.task(0:x)``, ``run.task(1)`` and ``run.onExit.notify`` all belong to
    their task; the root node (``run``) and its attempts are returned as ``run``.
    """
    out: set[str] = set()
    for name in names:
        if name == run or name.startswith(run + "("):
            out.add(run)
            continue
        match = _TASK_NAME.match(name, len(run) + 1) if name.startswith(run + ".") else None
        if match:
            out.add(match.group())
    return out


def task_states(
    workflow: dict[str, Any], shape: Shape, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """The state of every graph node of ``shape``, by id."""
    return {n.id: task_state(workflow, n, now) for n in shape.nodes}


def task_state(workflow: dict[str, Any], gnode: GraphNode, now: float | None = None) -> dict:
    """The state of one graph node: what the frontend draws.

    Keys: ``phase``, ``message``, ``started``/``finished`` (epoch seconds or ``None``),
    ``duration`` (text, once finished), ``attempt`` (``"k/n"`` once retried), ``backoff``
    (the wait, while waiting to retry), ``cached`` (memoized hits), ``suspended`` (waiting to
    be resumed), and for a group ``counts`` (phase → items) and ``total``.
    """
    run = workflow["metadata"]["name"]
    nodes: dict[str, Node] = (workflow.get("status") or {}).get("nodes") or {}
    node = nodes.get(node_id(run, gnode.node_name))
    if node is None:
        return {"phase": "Pending", "message": "", "started": None, "finished": None,
                "duration": "", "attempt": "", "backoff": "", "cached": 0, "suspended": False,
                "stopped": False}
    state = _timing(node)
    state["phase"] = node.get("phase", "Pending")
    state["message"] = (node.get("message") or "")[:MESSAGE_MAX]
    state.update(_attempts(nodes, node, gnode.retry_limit))
    state["cached"] = _cached(nodes, node)
    state["suspended"] = node.get("type") == NodeType.SUSPEND and state["phase"] == "Running"
    state["stopped"] = _stopped(nodes, node)
    if node.get("type") == NodeType.TASK_GROUP:
        kids = [nodes[k] for k in node.get("children") or [] if k in nodes]
        total = max(len(kids), len(node.get("nbflowItems") or []))
        counts = dict.fromkeys(_ORDER, 0)
        for kid in kids:
            counts[kid.get("phase", "Pending")] = counts.get(kid.get("phase", "Pending"), 0) + 1
        counts["Pending"] += total - len(kids)
        state["counts"] = {k: v for k, v in counts.items() if v}
        state["total"] = total
        state["cached"] = sum(_cached(nodes, k) for k in kids)
        retried = sum(1 for k in kids if k.get("type") == NodeType.RETRY and len(k["children"]) > 1)
        state["attempt"] = f"{retried} retried" if retried else ""
    return state


def _timing(node: Node) -> dict[str, Any]:
    started = _epoch(node.get("startedAt"))
    finished = _epoch(node.get("finishedAt"))
    duration = format_seconds(finished - started) if started is not None and finished else ""
    return {"started": started, "finished": finished, "duration": duration}


def _attempts(nodes: dict[str, Node], node: Node, limit: int | None) -> dict[str, str]:
    if node.get("type") != NodeType.RETRY:
        return {"attempt": "", "backoff": ""}
    kids = [nodes[k] for k in node.get("children") or [] if k in nodes]
    of = "∞" if limit is None or limit < 0 else str(limit + 1)
    attempt = f"{len(kids)}/{of}" if len(kids) > 1 else ""
    backoff = ""
    match = _BACKOFF.match(node.get("message") or "")
    last_done = bool(kids) and kids[-1].get("phase") not in ("Pending", "Running")
    if match and node.get("phase") == "Running" and last_done:
        backoff = match.group(1) + (match.group(2) or "second")[0]  # "4 seconds": "4s"
        attempt = f"{len(kids) + 1}/{of}"  # the attempt it waits to start
    return {"attempt": attempt, "backoff": backoff}


def _stopped(nodes: dict[str, Node], node: Node) -> bool:
    """Whether a stop or terminate ended ``node`` (Failed, "Stopped with strategy ...")."""
    if node.get("phase") not in ("Failed", "Error"):
        return False
    if (node.get("message") or "").startswith(STOPPED):
        return True
    kids = [nodes[k] for k in node.get("children") or [] if k in nodes]
    return node.get("type") == NodeType.RETRY and bool(kids) and _stopped(nodes, kids[-1])


def _memo_hit(node: Node) -> int:
    return 1 if (node.get("memoizationStatus") or {}).get("hit") else 0


def _cached(nodes: dict[str, Node], node: Node) -> int:
    """1 when ``node``'s result came from the cache: its own hit, or (a task with retries)
    its last attempt's."""
    if _memo_hit(node):
        return 1
    if node.get("type") == NodeType.RETRY and node.get("children"):
        return _memo_hit(nodes.get(node["children"][-1]) or {})
    return 0


def _epoch(text: str | None) -> float | None:
    return parse_timestamp(text).timestamp() if text else None


def run_info(workflow: dict[str, Any]) -> dict[str, Any]:
    """The run as a whole: id, phase, message and timing."""
    status = workflow.get("status") or {}
    info = _timing(status)
    nodes = status.get("nodes") or {}
    if info["duration"]:  # the time it was running: not the idle time between reruns
        info["duration"] = format_seconds(active_seconds(nodes.values()))
    # "child 'wf-123' failed" reads better with the node's name
    message = _NODE_REF.sub(
        lambda m: f"'{nodes[m.group(1)].get('displayName', m.group(1))}'"
        if m.group(1) in nodes
        else m.group(0),
        status.get("message") or "",
    )
    info.update(
        id=workflow["metadata"]["name"],
        phase=status.get("phase") or "Pending",
        message=message[:MESSAGE_MAX],
        stopped=bool((workflow.get("spec") or {}).get("shutdown"))
        and status.get("phase") in ("Failed", "Error"),
    )
    return info


def item_label(node: Node) -> str:
    """The item of a mapped node, from its name: ``task(3:_i:3,shard:3)`` gives ``3: shard=3``.

    nbflow's own ``_i`` (the item index) is left out; Argo's ``k:v`` pairs read ``k=v``.
    """
    display = node.get("displayName") or node.get("name", "")
    start = display.find("(")
    if start < 0 or not display.endswith(")"):
        return display
    index, _, desc = display[start + 1 : -1].partition(":")
    pairs = [p for p in desc.split(",") if not p.startswith("_i:")]
    return f"{index}: " + ",".join(p.replace(":", "=", 1) for p in pairs)


def format_seconds(seconds: float) -> str:
    """A short duration: ``0s``, ``42s``, ``3m05s``, ``2h07m``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
