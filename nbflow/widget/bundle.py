"""The widget's ES module as anywidget loads it: ``widget.js`` with the shared renderer inlined.

anywidget imports a widget's ``_esm`` text from a blob URL, where relative imports of the
renderer's modules (``graph.js`` and what it imports, which the JupyterLab extension bundles
too) cannot resolve. They stay the one source; this joins them into one module, each inlined
module once and before the modules that import it, as an ES module loader evaluates them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..errors import NbflowError

__all__ = ["STATIC", "VIZ_MODULE", "widget_esm", "widget_css", "slim"]

STATIC = Path(__file__).parent / "static"
#: Graphviz compiled to WebAssembly (from npm's ``@viz-js/viz``), for layouts without ``dot``.
VIZ_MODULE = STATIC / "viz-standalone.mjs"
_IMPORT = re.compile(r'^import\s*\{[^}]*\}\s*from\s*"\./(?P<name>[\w-]+\.js)";[ \t]*\n', re.M)
_EXPORT_LIST = re.compile(r"^export\s*\{[^}]*\};[ \t]*\n", re.M)
_EXPORT_DECL = re.compile(r"^export\s+(?=(?:async\s+)?(?:function|class|const|let)\b)", re.M)


@lru_cache(maxsize=1)
def widget_esm() -> str:
    """``widget.js`` with the modules it imports (``import {...} from "./x.js"``, transitively)
    inlined above it, without their ``export`` keywords; ``widget.js`` keeps its own exports.
    """
    done: list[str] = []
    parts = [_inline(name, done) for name in _imports(_read("widget.js"))]
    own = _IMPORT.sub("", _read("widget.js"))
    return slim("".join(parts) + own)


@lru_cache(maxsize=1)
def widget_css() -> str:
    """``widget.css`` without its comments and indentation."""
    text = re.sub(r"/\*.*?\*/", "", _read("widget.css"), flags=re.S)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip()) + "\n"


def slim(source: str) -> str:
    """``source`` without comment lines, doc comments and indentation: a notebook saved with
    the widget carries this text. The inlining markers (``// ---- name``) stay.

    Only whole lines go: the renderer has no multi-line strings or template literals.
    """
    out = []
    in_doc = False
    for raw in source.splitlines():
        line = raw.strip()
        if in_doc:
            in_doc = "*/" not in line
            continue
        if line.startswith("/*"):
            in_doc = "*/" not in line
            continue
        if not line or (line.startswith("//") and not line.startswith("// ---- ")):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _imports(source: str) -> list[str]:
    return [m.group("name") for m in _IMPORT.finditer(source)]


def _inline(name: str, done: list[str]) -> str:
    """``name`` and, first, what it imports; ``""`` for a module already inlined."""
    if name in done:
        return ""
    done.append(name)
    source = _read(name)
    if re.search(r"^export\s+default\b", source, re.M):
        raise NbflowError(f"{name} cannot be inlined: it has a default export")
    deps = "".join(_inline(dep, done) for dep in _imports(source))
    body = _EXPORT_DECL.sub("", _EXPORT_LIST.sub("", _IMPORT.sub("", source)))
    return f"{deps}// ---- {name} (inlined by nbflow.widget.bundle)\n{body}\n"
