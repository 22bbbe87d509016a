"""The widget's ES module as anywidget loads it: ``widget.js`` with the shared renderer inlined.

anywidget imports a widget's ``_esm`` text from a blob URL, where the relative import of
``graph.js`` (the renderer the JupyterLab extension bundles too) cannot resolve. Both files
stay the one source; this joins them into one module, in the order an ES module loader would
evaluate them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..errors import NbflowError

__all__ = ["STATIC", "VIZ_MODULE", "widget_esm"]

STATIC = Path(__file__).parent / "static"
#: Graphviz compiled to WebAssembly (from npm's ``@viz-js/viz``), for layouts without ``dot``.
VIZ_MODULE = STATIC / "viz-standalone.mjs"
_IMPORT = re.compile(r'^import\s*\{[^}]*\}\s*from\s*"\./(?P<name>[\w-]+\.js)";\s*$', re.MULTILINE)


@lru_cache(maxsize=1)
def widget_esm() -> str:
    """``widget.js`` with each ``import {...} from "./x.js"`` replaced by the text of ``x.js``.

    The inlined modules may only export names (no default export) and import nothing.
    """
    text = (STATIC / "widget.js").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        name = match.group("name")
        source = (STATIC / name).read_text(encoding="utf-8")
        if re.search(r"^\s*(import\s|export\s+default)", source, re.MULTILINE):
            raise NbflowError(f"{name} cannot be inlined: it imports or has a default export")
        return f"// ---- {name} (inlined by nbflow.widget.bundle)\n{source}\n// ---- end of {name}"

    return _IMPORT.sub(inline, text)
