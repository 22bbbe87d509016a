"""The run graph without a live kernel: an SVG drawn by ``dot``, else an HTML table, plus text.

This is what nbconvert's HTML export, GitHub and VS Code show when no kernel runs the widget.
"""

from __future__ import annotations

import html
import subprocess
from typing import TYPE_CHECKING, Any

from ..vocab import FAILED
from .layout import NODE_SIZE_IN, dot_program, quote
from .state import PHASES, GraphNode, Shape, graph_shape, run_info, task_states

if TYPE_CHECKING:
    from ..engine.run import Run

__all__ = ["COLORS", "svg", "table_html", "static_html", "mimebundle"]

# Okabe-Ito colours (safe for the common colour-vision deficiencies); every phase also has an
# icon and a word, so colour is never the only cue.
COLORS = {
    "Pending": ("#f2f2f2", "#8c8c8c"),
    "Running": ("#cfe8f7", "#0072b2"),
    "Succeeded": ("#c9eee1", "#009e73"),
    "Failed": ("#fbd9c4", "#d55e00"),
    "Error": ("#f4d6e6", "#cc79a7"),
    "Skipped": ("#ffffff", "#8c8c8c"),
    "Omitted": ("#ffffff", "#8c8c8c"),
}
SVG_MAX_NODES = 400  # beyond, the static SVG is too large to be useful: a table instead


def _status_line(state: dict[str, Any]) -> str:
    phase = state["phase"]
    parts = ["■ stopped" if state.get("stopped") else
             f"{PHASES.get(phase, PHASES['Pending'])['icon']} {phase}"]
    if state.get("duration"):
        parts.append(state["duration"])
    return " · ".join(parts)


def _detail_line(state: dict[str, Any]) -> str:
    if "counts" in state:
        counts = " ".join(
            f"{PHASES[p]['icon']}{n}" for p, n in state["counts"].items() if p in PHASES
        )
        return f"{state['total']} items: {counts}"
    parts = []
    if state.get("attempt"):
        parts.append(f"attempt {state['attempt']}")
    if state.get("backoff"):
        parts.append(f"backoff {state['backoff']}")
    if state.get("suspended"):
        parts.append("suspended")
    if state.get("cached"):
        parts.append("cached")
    return " · ".join(parts)


def svg(shape: Shape, states: dict[str, dict[str, Any]], rankdir: str = "TB") -> str | None:
    """The graph as SVG text, drawn by the ``dot`` program; ``None`` without it."""
    program = dot_program()
    if program is None or len(shape.nodes) > SVG_MAX_NODES:
        return None
    lines = [
        "digraph nbflow {",
        f"  graph [rankdir={rankdir}, nodesep=0.35, ranksep=0.45];",
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
    ]
    for node in shape.nodes:
        lines.append(_dot_node(node, states[node.id]))
    for a, b, kind in shape.edges:
        lines.append(f"  {quote(a)} -> {quote(b)}{' [style=dashed]' if kind == 'exit' else ''};")
    lines.append("}")
    out = subprocess.run(
        [program, "-Tsvg"], input="\n".join(lines), capture_output=True, text=True, timeout=120,
        check=False,
    )
    if out.returncode != 0:
        return None
    text = out.stdout
    return text[text.find("<svg") :] if "<svg" in text else None


def _dot_node(node: GraphNode, state: dict[str, Any]) -> str:
    fill, line = COLORS.get(state["phase"], COLORS["Pending"])
    width, height = NODE_SIZE_IN[node.kind]
    rows = [f"<b>{html.escape(node.id)}</b>", html.escape(_status_line(state))]
    detail = _detail_line(state)
    if not detail and node.when and state["phase"] in ("Pending", "Skipped"):
        detail = f"if {node.when}"
    if detail:
        rows.append(f'<font point-size="9">{html.escape(detail)}</font>')
    label = "<" + "<br/>".join(rows) + ">"
    dashed = ",dashed" if state["phase"] in ("Skipped", "Omitted", "Pending") else ""
    pen = 2.5 if state["phase"] in FAILED else 1.2
    tooltip = html.escape(state.get("message") or state["phase"], quote=True)
    return (
        f"  {quote(node.id)} [label={label}"
        f', fillcolor="{fill}", color="{line}", penwidth={pen}, '
        f'style="rounded,filled{dashed}", width={width}, height={height}, '
        f'tooltip="{tooltip}", id={quote("nbflow-" + node.id)}];'
    )


def table_html(shape: Shape, states: dict[str, dict[str, Any]]) -> str:
    """The tasks as an HTML table: task, template, phase, attempts, duration, details."""
    head = "".join(
        f"<th>{h}</th>" for h in ("task", "template", "phase", "attempt", "duration", "details")
    )
    rows = []
    for node in shape.nodes:
        st = states[node.id]
        phase = st["phase"]
        detail = _detail_line(st) if "counts" in st else (st.get("message") or "")
        cells = [
            node.id,
            node.template,
            f"{PHASES.get(phase, PHASES['Pending'])['icon']} {phase}",
            st.get("attempt") or "",
            st.get("duration") or "",
            detail,
        ]
        style = f"border-left:4px solid {COLORS.get(phase, COLORS['Pending'])[1]}"
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        rows.append(f'<tr data-phase="{html.escape(phase)}" style="{style}">{tds}</tr>')
    return (
        '<table class="nbflow-table"><thead><tr>' + head + "</tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )


def static_html(workflow: dict[str, Any]) -> str:
    """The run as HTML: a title line, the SVG graph where ``dot`` exists, and the table."""
    shape = graph_shape(workflow)
    states = task_states(workflow, shape)
    info = run_info(workflow)
    icon = PHASES.get(info["phase"], PHASES["Pending"])["icon"]
    title = f"run {info['id']}: {icon} {info['phase']}"
    if info.get("duration"):
        title += f" · {info['duration']}"
    if info.get("message") and info["phase"] != "Succeeded":
        title += f" · {info['message']}"
    picture = svg(shape, states)
    table = table_html(shape, states)
    body = (
        f"{picture}<details><summary>tasks</summary>{table}</details>" if picture else table
    )
    return f'<div class="nbflow-static"><p><b>{html.escape(title)}</b></p>{body}</div>'


def mimebundle(run: Run) -> dict[str, Any]:
    """``text/plain`` and ``text/html`` of a run, for IPython's rich display of run objects.

    When the run's live widget was already shown in the cell being executed (``%nbflow run``
    shows it before waiting), only the text summary is returned, so the graph is not drawn twice.
    """
    bundle: dict[str, Any] = {"text/plain": run.summary()}
    from . import widget_of

    widget = widget_of(run)
    if widget is not None and widget.shown_in_current_cell():
        return bundle
    bundle["text/html"] = static_html(run.workflow)
    return bundle
