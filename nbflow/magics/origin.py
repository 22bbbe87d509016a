"""Which notebook file a kernel runs, when its frontend says: recorded with the runs it starts."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["notebook_file", "run_origin"]


def notebook_file(user_ns: dict[str, Any], environ: dict[str, str] | None = None) -> str | None:
    """The absolute path of the notebook this kernel runs, or ``None`` when nothing says.

    VS Code puts it in the namespace (``__vsc_ipynb_file__``); a Jupyter server (2.x) starts a
    notebook's kernel with ``JPY_SESSION_NAME`` set to it. Only an existing ``.ipynb`` file
    counts: a console's session name is not a notebook.
    """
    env = os.environ if environ is None else environ
    for candidate in (user_ns.get("__vsc_ipynb_file__"), env.get("JPY_SESSION_NAME")):
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            path = os.path.abspath(candidate)
            if os.path.isfile(path):
                return path
    return None


def run_origin(user_ns: dict[str, Any], workflow: str, base_dir: str) -> dict[str, str] | None:
    """What a run started from this kernel records of where it came from (``notebook``,
    ``workflow``, ``base_dir``, as ``nbflow run nb.ipynb`` does), so that the Lab extension
    shows it on the notebook's cells and can rerun it from the saved file; ``None`` when the
    notebook is not known."""
    path = notebook_file(user_ns)
    if path is None:
        return None
    return {"notebook": path, "workflow": workflow, "base_dir": base_dir}
