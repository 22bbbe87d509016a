"""Find the modules a pipeline's steps import, to import them once before the fast engine forks."""

from __future__ import annotations

import ast
import base64
import importlib
import importlib.util
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["step_notebook", "notebook_imports", "discover", "preload", "NEVER_PRELOAD"]

# Modules that start threads, bind devices or pick a GUI at import: forking after importing them
# is unsafe or changes what the step sees. Each step imports them itself.
NEVER_PRELOAD = frozenset(
    {
        "tensorflow",
        "torch",
        "jax",
        "jaxlib",
        "ray",
        "pyspark",
        "distributed",
        "dask.distributed",
        "matplotlib.pyplot",
        "pylab",
        "tkinter",
        "turtle",
        "PyQt5",
        "PyQt6",
        "PySide2",
        "PySide6",
        "wx",
        "gi",
        "ipywidgets",
        "anywidget",
        "__main__",
        "antigravity",
        "this",
    }
)
MAX_PRELOAD = 64


def step_notebook(template: dict[str, Any]) -> dict[str, Any] | None:
    """The step notebook a container template carries inline (``None`` when it has none)."""
    for art in (template.get("inputs") or {}).get("artifacts") or []:
        data = (art.get("raw") or {}).get("data")
        if not isinstance(data, str) or not str(art.get("path", "")).endswith(".ipynb"):
            continue
        try:
            text = data if data.lstrip().startswith("{") else base64.b64decode(data).decode()
            nb = json.loads(text)
        except ValueError:
            return None
        return nb if isinstance(nb, dict) else None
    return None


def notebook_imports(nb: dict[str, Any]) -> list[str]:
    """Absolute module names imported anywhere in the notebook's code cells, in order of use.

    Cells go through IPython's input transformer first, so magics and ``!`` lines do not hide the
    Python around them; a cell that still does not parse is skipped.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    found: dict[str, None] = {}
    for cell in nb.get("cells") or []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            _collect(transformer, source, found)
    return list(found)


# Magics whose argument (line magics) or body (cell magics) is Python code.
_CODE_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


def _collect(transformer: Any, source: str, found: dict[str, None], depth: int = 0) -> None:
    try:
        tree = ast.parse(transformer.transform_cell(source))
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found[node.module] = None
        elif depth < 3 and (code := _magic_code(node)) is not None:
            _collect(transformer, code, found, depth + 1)


def _magic_code(node: ast.AST) -> str | None:
    """The code of ``get_ipython().run_cell_magic('time', '', code)`` and the like."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    where = {"run_cell_magic": 2, "run_line_magic": 1}.get(node.func.attr)
    args = node.args
    if where is None or len(args) <= where:
        return None
    if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
        return None
    name = args[0].value  # type: ignore[attr-defined]
    return args[where].value if name in _CODE_MAGICS else None  # type: ignore[attr-defined]


def discover(manifest: dict[str, Any]) -> list[str]:
    """Modules worth importing before the steps of ``manifest`` fork, most used first."""
    counts: Counter[str] = Counter()
    for template in (manifest.get("spec") or {}).get("templates") or []:
        nb = step_notebook(template)
        if nb is not None:
            counts.update(set(notebook_imports(nb)))
    names = [n for n, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return [n for n in names if _allowed(n)][:MAX_PRELOAD]


def _allowed(name: str) -> bool:
    parts = name.split(".")
    prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
    return name != "__future__" and not prefixes & NEVER_PRELOAD


def preload(names: Iterable[str], local_dirs: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Import ``names`` in this process, skipping the user's own modules and those that fail.

    Returns the modules imported and, for the others, why not.
    """
    local = [os.path.realpath(d) + os.sep for d in local_dirs]
    loaded: list[str] = []
    skipped: dict[str, str] = {}
    for name in dict.fromkeys(names):
        why = _why_not(name, local)
        if why is None:
            try:
                importlib.import_module(name)
            except BaseException as exc:  # a module may raise anything, even SystemExit
                why = f"{type(exc).__name__}: {exc}"
        if why is None:
            loaded.append(name)
        else:
            skipped[name] = why
    return loaded, skipped


def _why_not(name: str, local: list[str]) -> str | None:
    if not _allowed(name):
        return "never preloaded"
    top = name.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if spec is None:
        return "not installed"
    places = [spec.origin or "", *(spec.submodule_search_locations or [])]
    for place in places:
        real = os.path.realpath(place) if place else ""
        if any(real.startswith(d) for d in local):
            return "a module of the working directory"
    return None
