"""Graph layout with Graphviz's ``dot`` algorithm: the DOT text, running ``dot``, reading its JSON.

Where the ``dot`` program exists (Debian's ``graphviz``, conda, Homebrew), the kernel lays the
graph out. A pip-only install has no ``dot`` program (the ``graphviz`` PyPI package only wraps
it), nor does Binder without apt packages or macOS without Homebrew; there the widget lays the
same DOT text out in the browser with a WebAssembly build of Graphviz shipped in this package
(``static/viz-standalone.mjs``, from npm's ``@viz-js/viz``) and sends the JSON back, which
:func:`normalize` reads exactly as it reads the program's output. Both run the same ``dot``
algorithm, so the picture does not depend on where it was laid out. Positions depend only on the
graph's shape, never on phases, so a layout is computed once per shape and cached: in memory,
and, given a folder (the server keeps them in ``<home>/layouts``), on disk under the SHA-256 of
the DOT text, so that a server started again does not lay a large graph out again. One DOT text
is laid out by one thread at a time; the others wait for its result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from .state import Shape

__all__ = [
    "NODE_SIZE_IN",
    "quote",
    "dot_source",
    "dot_program",
    "layout_with_dot",
    "normalize",
    "cached",
    "remember",
]

# Every node has the same fixed size (inches), so that the frontend can draw its content inside.
NODE_SIZE_IN = {"task": (2.3, 0.78), "exit": (2.3, 0.78), "group": (2.6, 0.98)}
_POINTS = 72.0
_TIMEOUT_S = 120
_cache: dict[str, dict[str, Any]] = {}
_cache_lock = threading.Lock()
_pending: dict[str, threading.Event] = {}  # DOT texts being laid out now, by another thread
_CACHE_MAX = 64
_FOLDER_MAX = 256  # layouts kept on disk; the least recently used go first


def dot_program() -> str | None:
    """Path of the ``dot`` program, or ``None`` when Graphviz is not installed."""
    return shutil.which("dot")


def quote(text: str) -> str:
    """``text`` as a quoted DOT identifier."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_source(shape: Shape, rankdir: str = "TB") -> str:
    """DOT text of ``shape`` for layout: fixed-size empty boxes; the frontend draws the rest."""
    lines = [
        "digraph nbflow {",
        f"  graph [rankdir={rankdir}, nodesep=0.35, ranksep=0.45, splines=true];",
        '  node [shape=box, fixedsize=true, label=""];',
    ]
    for node in shape.nodes:
        width, height = NODE_SIZE_IN[node.kind]
        lines.append(f"  {quote(node.id)} [width={width}, height={height}];")
    for a, b, kind in shape.edges:
        style = " [style=dashed]" if kind == "exit" else ""
        lines.append(f"  {quote(a)} -> {quote(b)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def cached(source: str) -> dict[str, Any] | None:
    """A layout already computed for this DOT text (in this process)."""
    with _cache_lock:
        return _cache.get(source)


def remember(source: str, layout: dict[str, Any]) -> None:
    """Keep ``layout`` for this DOT text."""
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[source] = layout


def layout_with_dot(source: str, folder: Path | None = None) -> dict[str, Any] | None:
    """Lay ``source`` out with the ``dot`` program; ``None`` when there is no such program.

    Parameters
    ----------
    source : str
        DOT text (:func:`dot_source`).
    folder : Path, optional
        Where layouts are kept across processes: one is read from there when it was laid out
        before, and one computed now is written there.
    """
    while True:
        with _cache_lock:
            layout = _cache.get(source)
            pending = _pending.get(source)
            if layout is None and pending is None:
                pending = _pending[source] = threading.Event()
                break
        if layout is not None:
            if folder is not None and not _file(folder, source).exists():
                _write(folder, source, layout)  # laid out for another folder, or deleted
            return layout
        assert pending is not None
        pending.wait(_TIMEOUT_S)  # then use its result, or lay it out here if it had none
    try:
        layout = _read(folder, source) if folder is not None else None
        if layout is None:
            layout = _run_dot(source)
            if layout is not None and folder is not None:
                _write(folder, source, layout)
        if layout is not None:
            remember(source, layout)
        return layout
    finally:
        with _cache_lock:
            del _pending[source]
        pending.set()


def _run_dot(source: str) -> dict[str, Any] | None:
    program = dot_program()
    if program is None:
        return None
    out = subprocess.run(
        [program, "-Tjson0"],
        input=source,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    if out.returncode != 0:
        return None  # the browser lays it out instead
    return normalize(json.loads(out.stdout))


def _file(folder: Path, source: str) -> Path:
    return folder / (hashlib.sha256(source.encode()).hexdigest() + ".json")


def _read(folder: Path, source: str) -> dict[str, Any] | None:
    """The layout kept in ``folder`` for ``source``; ``None`` when there is none or it cannot be
    read (it is then laid out again and replaced)."""
    path = _file(folder, source)
    try:
        layout = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(layout, dict) or not isinstance(layout.get("nodes"), dict):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used
    return layout


def _write(folder: Path, source: str, layout: dict[str, Any]) -> None:
    """Keep ``layout`` in ``folder`` (best effort: a layout can always be computed again)."""
    path = _file(folder, source)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(layout, separators=(",", ":")))
        os.replace(tmp, path)
        kept = sorted(folder.glob("*.json"), key=_mtime)
        for old in kept[: max(0, len(kept) - _FOLDER_MAX)]:
            old.unlink(missing_ok=True)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def normalize(graph: dict[str, Any]) -> dict[str, Any]:
    """Read Graphviz's JSON output into what the frontend draws, in SVG coordinates.

    Returns ``{"width", "height", "nodes": {id: [x, y, w, h]}, "edges": [{"from", "to",
    "path"}]}``: ``x, y`` the node's top-left corner, ``path`` an SVG path ending at the
    arrow's tip. Graphviz's y axis points up; SVG's points down.
    """
    _, _, width, height = (float(v) for v in graph["bb"].split(","))
    names: dict[int, str] = {}
    nodes: dict[str, list[float]] = {}
    for obj in graph.get("objects") or []:
        if "pos" not in obj:
            continue  # a subgraph
        names[obj["_gvid"]] = obj["name"]
        x, y = (float(v) for v in obj["pos"].split(","))
        w, h = float(obj["width"]) * _POINTS, float(obj["height"]) * _POINTS
        nodes[obj["name"]] = [round(x - w / 2, 1), round(height - y - h / 2, 1), w, h]
    edges = []
    for edge in graph.get("edges") or []:
        path = _spline_path(edge.get("pos", ""), height)
        if path:
            edges.append({"from": names[edge["tail"]], "to": names[edge["head"]], "path": path})
    return {"width": width, "height": height, "nodes": nodes, "edges": edges}


def _spline_path(pos: str, height: float) -> str:
    """Graphviz's edge ``pos`` (``e,x,y p0 p1 p2 p3 ...``, cubic B-spline control points)."""
    end: tuple[float, float] | None = None
    points: list[tuple[float, float]] = []
    for part in pos.split():
        fields = part.split(",")
        if fields[0] == "e":
            end = (float(fields[1]), height - float(fields[2]))
        elif fields[0] != "s":
            points.append((float(fields[0]), height - float(fields[1])))
    if len(points) < 4:
        return ""

    def pt(p: tuple[float, float]) -> str:
        return f"{p[0]:.1f},{p[1]:.1f}"

    parts = [f"M{pt(points[0])}"]
    for i in range(1, len(points) - 2, 3):
        parts.append(f"C{pt(points[i])} {pt(points[i + 1])} {pt(points[i + 2])}")
    if end is not None:
        parts.append(f"L{pt(end)}")
    return " ".join(parts)
