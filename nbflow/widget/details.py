"""The details pane of a selected node: phase, parameters, inputs, outputs, logs, error."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ..argo.manifest import entry_template
from ..engine.nodes import node_id, readable_name
from ..vocab import (
    BOUNDARY_TYPES,
    DIGESTS,
    EXECUTED_NOTEBOOK,
    EXPECT,
    FAILED,
    META_FILE,
    STEP_KEY,
    STEP_NOTEBOOK,
    NodeType,
)
from .state import format_seconds, item_label

if TYPE_CHECKING:
    from ..artifacts import ArtifactStore
    from ..engine.run import Run

__all__ = ["node_details", "last_pod", "notebook_key", "ITEMS_MAX", "LOG_TAIL_LINES"]

Node = dict[str, Any]
ITEMS_MAX = 2000
LOG_TAIL_LINES = 60
PREVIEW_MAX_BYTES = 64 * 1024
PREVIEW_CHARS = 2000
PREVIEW_ROWS = 5
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HIDDEN_PARAMS = (STEP_KEY, EXPECT, DIGESTS)  # nbflow's own: where outputs go, digests
_HIDDEN_ARTIFACTS = (STEP_NOTEBOOK, EXECUTED_NOTEBOOK)


# The kind of details pane each node type gets (DAG-like nodes get "dag").
_KINDS = {
    NodeType.TASK_GROUP: "group",
    NodeType.RETRY: "retry",
    NodeType.POD: "pod",
    NodeType.SKIPPED: "skipped",
}

def node_details(run: Run, task: str, node: str | None = None) -> dict[str, Any]:
    """Everything the details pane shows for graph node ``task`` (or its status node ``node``).

    Keys: ``task``, ``node``, ``title``, ``kind`` (``pending``, ``pod``, ``retry``, ``group``,
    ``skipped``, ``dag``), ``phase``, ``message``, ``template``, ``duration``, ``parameters``,
    ``inputs``, ``outputs``, ``attempts``, ``items``, ``items_total``, ``log_tail``,
    ``error`` (``ename``, ``evalue``, ``traceback``, ``cell``, ``source``) and ``notebook``
    (path or URL of the executed notebook of the last attempt).
    """
    nodes = run.nodes
    record = nodes.get(node) if node else nodes.get(node_id(run.id, _node_name(run, task)))
    out: dict[str, Any] = {
        "task": task, "node": record["id"] if record else None, "title": task, "kind": "pending",
        "phase": "Pending", "message": "", "template": _spec_template(run, task),
        "duration": "", "parameters": _spec_parameters(run, task), "inputs": [], "outputs": [],
        "attempts": [], "items": [], "items_total": 0, "log_tail": "", "error": None,
        "notebook": None, "notebooks": [],
    }
    if record is None:
        return out
    out.update(
        title=readable_name(record.get("displayName") or task),
        kind=_KINDS.get(record.get("type", ""), "dag"),
        phase=record.get("phase", "Pending"),
        message=record.get("message") or "",
        template=record.get("templateName") or out["template"],
        duration=_duration(record),
    )
    if record.get("type") == NodeType.TASK_GROUP:
        out.update(_items(nodes, record))
        return out
    if record.get("type") == NodeType.RETRY:
        out["attempts"] = [_brief(nodes[k]) for k in record.get("children") or [] if k in nodes]
    pods = pods_of(nodes, record)
    if pods:
        out.update(_pod_details(run, pods[-1]))
        out["notebooks"] = [p for p in (_notebook_location(run.store, q) for q in pods) if p]
        failed = [p for p in pods if p.get("phase") in FAILED]
        if failed and record.get("phase") in FAILED:  # else: see its attempts
            out["error"] = _error(run.store, failed[-1])
    return out


def _node_name(run: Run, task: str) -> str:
    return f"{run.id}.{task}" if entry_template(run.workflow).get("dag") else run.id


def _spec_task(run: Run, task: str) -> dict[str, Any]:
    spec = run.workflow.get("spec") or {}
    for t in (entry_template(run.workflow).get("dag") or {}).get("tasks") or []:
        if t["name"] == task:
            return dict(t)
    if task == "onExit":
        return {"template": spec.get("onExit")}
    return {}


def _spec_template(run: Run, task: str) -> str:
    return str(_spec_task(run, task).get("template") or task)


def _spec_parameters(run: Run, task: str) -> list[dict[str, str]]:
    args = (_spec_task(run, task).get("arguments") or {}).get("parameters") or []
    return [
        {"name": p["name"], "value": str(p.get("value", ""))}
        for p in args
        if p["name"] not in _HIDDEN_PARAMS
    ]


def _duration(node: Node) -> str:
    from ..engine.nodes import parse_timestamp

    if not node.get("startedAt") or not node.get("finishedAt"):
        return ""
    return format_seconds(
        (parse_timestamp(node["finishedAt"]) - parse_timestamp(node["startedAt"])).total_seconds()
    )


def _brief(node: Node) -> dict[str, Any]:
    return {
        "id": node["id"],
        "label": readable_name(node.get("displayName") or node["name"]),
        "phase": node.get("phase", "Pending"),
        "message": (node.get("message") or "")[:300],
        "duration": _duration(node),
    }


def _items(nodes: dict[str, Node], group: Node) -> dict[str, Any]:
    kids = [nodes[k] for k in group.get("children") or [] if k in nodes]
    if len(kids) > ITEMS_MAX:  # the ones to look at first: failures, then running
        rank = {"Failed": 0, "Error": 0, "Running": 1}
        kids = sorted(kids, key=lambda k: rank.get(k.get("phase", ""), 2))[:ITEMS_MAX]
    items = []
    for kid in kids:
        attempts = len(kid.get("children") or []) if kid.get("type") == NodeType.RETRY else 1
        items.append(
            {"id": kid["id"], "label": item_label(kid), "phase": kid.get("phase", "Pending"),
             "attempts": attempts}
        )
    total = max(len(group.get("children") or []), len(group.get("nbflowItems") or []))
    return {"items": items, "items_total": total}


def pods_of(nodes: dict[str, Node], node: Node) -> list[Node]:
    """The pods under ``node`` in creation order: itself, its attempts, or its DAG's pods."""
    if node.get("type") == NodeType.POD:
        return [node]
    if node.get("type") == NodeType.RETRY:
        return [nodes[k] for k in node.get("children") or [] if k in nodes]
    if node.get("type") in BOUNDARY_TYPES:
        inner = [n for n in nodes.values() if n.get("boundaryID") == node["id"]]
        return [p for n in inner for p in pods_of(nodes, n) if n.get("type") != NodeType.TASK_GROUP]
    return []


def last_pod(nodes: dict[str, Node], node: Node) -> Node | None:
    """The last attempt's pod of ``node``."""
    pods = pods_of(nodes, node)
    return pods[-1] if pods else None


def notebook_key(pod: Node) -> str | None:
    """Artifact key of the executed notebook of ``pod``."""
    for art in (pod.get("outputs") or {}).get("artifacts") or []:
        if art.get("name") == EXECUTED_NOTEBOOK and "s3" in art:
            return str(art["s3"]["key"])
    return None


def _notebook_location(store: ArtifactStore, pod: Node) -> str | None:
    key = notebook_key(pod)
    if key is None:
        return None
    local = store.local_path(key)
    return str(local) if local is not None else store.url(key)


def _pod_details(run: Run, pod: Node) -> dict[str, Any]:
    inputs = pod.get("inputs") or {}
    outputs = pod.get("outputs") or {}
    values = {p["name"]: p.get("value") for p in outputs.get("parameters") or []}
    return {
        "parameters": [
            {"name": p["name"], "value": str(p.get("value", ""))}
            for p in inputs.get("parameters") or []
            if p["name"] not in _HIDDEN_PARAMS
        ],
        "inputs": [
            _artifact(run.store, a) for a in inputs.get("artifacts") or []
            if a.get("name") not in _HIDDEN_ARTIFACTS
        ],
        "outputs": [
            _artifact(run.store, a, values.get(a.get("name")))
            for a in outputs.get("artifacts") or []
            if a.get("name") not in _HIDDEN_ARTIFACTS
        ],
        "log_tail": _log_tail(run, pod),
        "notebook": _notebook_location(run.store, pod),
    }


def _log_tail(run: Run, pod: Node) -> str:
    path = run.run_dir / "logs" / f"{pod['id']}.log"
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(_ANSI.sub("", text).splitlines()[-LOG_TAIL_LINES:])


def _artifact(store: ArtifactStore, art: dict[str, Any], param: str | None = None) -> dict:
    """Name, key, size, format and a preview of one artifact folder (or fan-in prefix)."""
    key = (art.get("s3") or {}).get("key") or ""
    out: dict[str, Any] = {"name": art.get("name"), "key": key, "size": None, "size_text": "",
                           "format": None, "type": None, "preview": None}
    if not key:
        return out
    try:
        out["size"] = int(store.fs.du(store.path(key)))
        out["size_text"] = _size_text(out["size"])
        meta = json.loads(store.read_bytes(f"{key.rstrip('/')}/{META_FILE}"))
    except (OSError, ValueError):
        meta = None  # a fan-in prefix (one folder per item), or not written yet
    if meta is None:
        return out
    out.update(format=meta.get("format"), type=meta.get("type"))
    try:
        out["preview"] = _preview(store, key.rstrip("/"), meta.get("format"), param)
    except (OSError, ValueError, ImportError):
        out["preview"] = None
    return out


def _preview(
    store: ArtifactStore, key: str, fmt: str | None, param: str | None
) -> dict[str, Any] | None:
    if fmt == "json":
        text = param
        if text is None and store.fs.size(store.path(f"{key}/data.json")) <= PREVIEW_MAX_BYTES:
            text = store.read_bytes(f"{key}/data.json").decode("utf-8")
        if text is None:
            return None
        pretty = json.dumps(json.loads(text), indent=1, ensure_ascii=False)
        return {"kind": "text", "text": _clip(pretty)}
    if fmt in ("parquet", "parquet-series"):
        return _parquet_preview(store, f"{key}/data.parquet")
    if fmt == "npy":
        local = store.local_path(f"{key}/data.npy")
        if local is None:
            return None
        import numpy as np

        array = np.load(local, mmap_mode="r", allow_pickle=False)  # reads the header only
        return {"kind": "text", "text": f"array of shape {array.shape}, dtype {array.dtype}"}
    return None


def _parquet_preview(store: ArtifactStore, key: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    with store.fs.open(store.path(key), "rb") as f:
        pf = pq.ParquetFile(f)
        rows = pf.metadata.num_rows
        names = [n for n in pf.schema_arrow.names if not n.startswith("__index_level_")]
        head = pf.read_row_group(0, columns=names).slice(0, PREVIEW_ROWS) if rows else None
        data = head.to_pylist() if head is not None else []
    return {
        "kind": "table",
        "columns": names,
        "rows": [[_clip(str(r.get(c)), 80) for c in names] for r in data],
        "shape": [rows, len(names)],
    }


def _size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _clip(text: str, limit: int = PREVIEW_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error(store: ArtifactStore, pod: Node) -> dict[str, Any] | None:
    """The first error output of the pod's executed notebook, with the failing cell's code."""
    key = notebook_key(pod)
    found: dict[str, Any] | None = None
    if key is not None:
        try:
            nb = json.loads(store.read_bytes(key))
        except (OSError, ValueError):
            nb = {}
        found = _notebook_error(nb)
    if found is None and pod.get("message"):
        found = {"ename": "", "evalue": pod["message"], "traceback": pod["message"],
                 "cell": None, "source": ""}
    return found


def _notebook_error(nb: dict[str, Any]) -> dict[str, Any] | None:
    for index, cell in enumerate(nb.get("cells") or []):
        for out in cell.get("outputs") or []:
            if out.get("output_type") == "error":
                source = cell.get("source") or ""
                return {
                    "ename": out.get("ename") or "",
                    "evalue": out.get("evalue") or "",
                    "traceback": "\n".join(_ANSI.sub("", t) for t in out.get("traceback") or []),
                    # the number its traceback shows ("Cell In[4]"), as the step's message
                    "cell": cell.get("execution_count") or index,
                    "source": "".join(source) if isinstance(source, list) else source,
                }
    return None
