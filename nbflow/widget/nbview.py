"""A small, dependency-free HTML view of an executed notebook, shown in the details pane.

The frontend puts it in a sandboxed ``iframe`` (no scripts), so HTML outputs of the user's
cells display as they would in a trusted-off notebook and cannot run code in the page.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

__all__ = ["render_notebook"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_OUTPUT_CHARS = 20_000
_STYLE = """
body{font:13px/1.4 system-ui,sans-serif;margin:8px;color:#222;background:#fff}
.cell{margin:0 0 10px}.src{background:#f5f5f5;border-left:3px solid #9ab;padding:4px 6px;
white-space:pre-wrap;font:12px/1.35 ui-monospace,monospace;margin:0}
.md{white-space:pre-wrap;color:#333}.out{white-space:pre-wrap;font:12px/1.35 ui-monospace,
monospace;margin:2px 0 0;padding:2px 6px}.err{background:#fdecea;border-left:3px solid #d55e00}
.tag{color:#777;font-size:11px}img{max-width:100%}
.banner{color:#b00020;font-weight:600;margin:0 0 10px}
"""
#: The tag of the cells papermill adds around an error (their text is HTML).
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
_TAGS = re.compile(r"<[^>]*>")


def _text(value: Any) -> str:
    text = "".join(value) if isinstance(value, list) else str(value or "")
    if len(text) > _MAX_OUTPUT_CHARS:
        text = text[:_MAX_OUTPUT_CHARS] + "\n… (truncated)"
    return text


def _output(out: dict[str, Any]) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return f'<pre class="out">{html.escape(_ANSI.sub("", _text(out.get("text"))))}</pre>'
    if kind == "error":
        tb = "\n".join(_ANSI.sub("", t) for t in out.get("traceback") or [])
        return f'<pre class="out err">{html.escape(tb)}</pre>'
    data = out.get("data") or {}
    if "image/png" in data:
        return f'<img alt="output" src="data:image/png;base64,{_text(data["image/png"])}">'
    if "text/html" in data:
        return f'<div class="out">{_text(data["text/html"])}</div>'
    if "image/svg+xml" in data:
        return f'<div class="out">{_text(data["image/svg+xml"])}</div>'
    if "text/plain" in data:
        return f'<pre class="out">{html.escape(_text(data["text/plain"]))}</pre>'
    return ""


def render_notebook(data: bytes | str, title: str = "") -> str:
    """HTML for the notebook JSON ``data``: code, markdown (as text), outputs, errors."""
    nb = json.loads(data)
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style>"]
    for cell in nb.get("cells") or []:
        tags = (cell.get("metadata") or {}).get("tags") or []
        if PAPERMILL_ERROR_TAG in tags:  # its banner, as text (never the user's HTML)
            text = html.unescape(_TAGS.sub("", _text(cell.get("source")))).strip()
            parts.append(f'<div class="cell banner">{html.escape(text)}</div>')
            continue
        tag = f'<div class="tag">{html.escape(", ".join(tags))}</div>' if tags else ""
        source = html.escape(_text(cell.get("source")))
        if cell.get("cell_type") == "code":
            outs = "".join(_output(o) for o in cell.get("outputs") or [])
            parts.append(f'<div class="cell">{tag}<pre class="src">{source}</pre>{outs}</div>')
        else:
            parts.append(f'<div class="cell md">{source}</div>')
    return "".join(parts)
