"""nbflow: turn notebook cells into templates, wire them into a DAG, run it locally or on Argo."""

from __future__ import annotations

import sys
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "output",
    "attempt",
    "show",
    "graph",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def output(name: str, value: Any) -> Any:
    """Record ``value`` as the output ``name`` of the running step (or of the live kernel).

    Use it in a whole-notebook template for values it computes; a :class:`pathlib.Path`
    value saves the file or folder it points to. Returns ``value``.
    """
    from .handoff import output as _output

    return _output(name, value)


def attempt() -> int | None:
    """The 0-based attempt number of the running step; ``None`` outside a step."""
    from .handoff import attempt as _attempt

    return _attempt()


def show(run: Any = None, **options: Any) -> None:
    """Display the interactive graph of ``run`` (a run object, a run id, or the latest run).

    Live while the run goes on in this kernel; ``options`` go to
    :class:`nbflow.widget.RunWidget`; :func:`graph` gives the widget itself.
    """
    from .widget import show as _show

    _show(run, **options)


def graph(run: Any = None, **options: Any) -> Any:
    """The interactive graph of ``run`` (a run object, a run id, or the latest run): the
    :class:`nbflow.widget.RunWidget` that :func:`show` displays."""
    from .widget import graph as _graph

    return _graph(run, **options)


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%template``, ``%%setup``, ``%%workflow`` and ``%nbflow`` magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to undo: the magics stay registered until the kernel restarts."""


def _register_display() -> None:
    """In a running IPython (a kernel), show run objects as their graph. IPython is not
    imported for this: only a shell that is already there is taught."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and hasattr(shell, "display_formatter"):
        from .widget import register_display

        register_display(shell)


_register_display()
