"""What the REST API returns about one run: its graph, a node's details, logs, executed notebook
and outputs, computed by the functions the widget uses (``nbflow.widget.state``, ``layout``,
``details``, ``nbview``), so that both front ends show the same state."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NbflowError
from ..widget import layout
from ..widget.details import last_pod, node_details, notebook_key, pods_of
from ..widget.nbview import render_notebook
from ..widget.state import PHASES, GraphNode, graph_shape, run_info, task_states

if TYPE_CHECKING:
    from ..engine.run import Run

__all__ = [
    "NodeNotFound",
    "graph_view",
    "lay_out",
    "graph_node",
    "details_view",
    "logs_view",
    "notebook_bytes",
    "notebook_html",
    "outputs_view",
]


class NodeNotFound(NbflowError, LookupError):
    """The run has no such graph node, status node or executed notebook."""


def graph_view(run: Run, layouts: Path | None = None) -> dict[str, Any]:
    """The graph as the widget syncs it: ``graph``, ``nodes``, ``info``, ``positions`` (laid
    out by ``dot`` when it is installed, else ``{}``), ``dot`` (for a layout in the browser)
    and ``phases`` (icon and word of each phase). ``layouts``: the folder where layouts are
    kept across server starts."""
    wf = run.workflow
    shape = graph_shape(wf)
    dot = layout.dot_source(shape)
    return {
        "graph": shape.to_json(),
        "nodes": task_states(wf, shape),
        "info": run_info(wf),
        "positions": layout.layout_with_dot(dot, layouts) or {},
        "dot": dot,
        "phases": PHASES,
    }


def lay_out(workflow: dict[str, Any], layouts: Path) -> bool:
    """Lay the graph of a run (its ``workflow``) out ahead of its first view, into
    ``layouts``; whether ``dot`` could."""
    return layout.layout_with_dot(layout.dot_source(graph_shape(workflow)), layouts) is not None


def graph_node(run: Run, node_id: str) -> GraphNode:
    """The graph node ``node_id`` of ``run`` (a task name, ``onExit``, or the entry point)."""
    for gnode in graph_shape(run.workflow).nodes:
        if gnode.id == node_id:
            return gnode
    raise NodeNotFound(f"run {run.id} has no node {node_id!r}")


def _record(run: Run, node_id: str, node: str | None) -> dict[str, Any] | None:
    """The status node shown for graph node ``node_id``: ``node`` (an item or an attempt,
    by id) when given, else the graph node's own record (``None`` while it has none)."""
    from ..engine.nodes import node_id as status_id

    gnode = graph_node(run, node_id)
    if node:
        if node not in run.nodes:
            raise NodeNotFound(f"run {run.id} has no status node {node!r}")
        return run.nodes[node]
    return run.nodes.get(status_id(run.id, gnode.node_name))


def details_view(run: Run, node_id: str, node: str | None = None) -> dict[str, Any]:
    """The details pane of graph node ``node_id`` (see
    :func:`nbflow.widget.details.node_details`)."""
    _record(run, node_id, node)  # NodeNotFound for an unknown graph node or status node
    return node_details(run, node_id, node)


def logs_view(run: Run, node_id: str, node: str | None = None, tail: int | None = None) -> str:
    """The logs of every attempt under the node, each under a ``==> name (phase) <==`` header;
    only the last ``tail`` lines when given."""
    record = _record(run, node_id, node)
    if record is None:
        text = ""
    elif node is None and hasattr(run, "follow"):  # a cluster run reads its pods' logs
        text = run.logs(node_id)
    else:
        parts = []
        for pod in pods_of(run.nodes, record):
            path = run.run_dir / "logs" / f"{pod['id']}.log"
            log = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
            parts.append(f"==> {pod.get('displayName', pod['id'])} ({pod.get('phase')}) <==\n{log}")
        text = "\n".join(parts)
    if tail is not None:
        text = "\n".join(text.splitlines()[-tail:]) if tail > 0 else ""
    return text


def notebook_bytes(run: Run, node_id: str, node: str | None = None) -> tuple[bytes, str]:
    """The executed notebook (nbformat JSON) of the node's last attempt, and a title."""
    record = _record(run, node_id, node)
    pod = last_pod(run.nodes, record) if record is not None else None
    key = notebook_key(pod) if pod is not None else None
    if key is None or record is None:
        raise NodeNotFound(f"node {node or node_id!r} of run {run.id} has no executed notebook")
    return run.store.read_bytes(key), str(record.get("name", node_id))


def notebook_html(run: Run, node_id: str, node: str | None = None) -> str:
    """The executed notebook as the details pane shows it (HTML, for a sandboxed frame)."""
    data, title = notebook_bytes(run, node_id, node)
    return render_notebook(data, title=title)


def outputs_view(run: Run, node_id: str, node: str | None = None) -> dict[str, Any]:
    """The outputs of the node's last attempt: ``{"outputs": {name: {"kind", "type",
    "preview", "size", "size_text", "key"}}}``; a mapped task without ``node`` gives its
    ``items`` instead (each has the ``id`` to ask for)."""
    details = details_view(run, node_id, node)
    outputs = {
        art["name"]: {
            "kind": art.get("format"),
            "type": art.get("type"),
            "preview": art.get("preview"),
            "size": art.get("size"),
            "size_text": art.get("size_text"),
            "key": art.get("key"),
        }
        for art in details.get("outputs") or []
    }
    out: dict[str, Any] = {"outputs": outputs}
    if details.get("kind") == "group":
        out["items"] = details.get("items") or []
        out["items_total"] = details.get("items_total") or 0
    return out
