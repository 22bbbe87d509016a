"""The run graph widget: live phases, retries, mapped tasks, details and actions (anywidget).

Display belongs to this layer, not to the run object: :func:`graph` gives a run's widget,
:func:`show` displays it, and :func:`register_display` teaches an IPython shell to show run
objects as their static graph.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.run import Run
    from .widget import RunWidget

__all__ = ["RunWidget", "graph", "show", "register_display", "remember", "widget_of"]

# The widget of each run object, so that every view of a run in a kernel is one live widget.
_WIDGETS: weakref.WeakKeyDictionary[Run, RunWidget] = weakref.WeakKeyDictionary()


def graph(run: Run | str | None = None, **options: Any) -> RunWidget:
    """The interactive graph of ``run`` (a run object, a run id, or the latest run).

    Live while the run goes on in this kernel. Without ``options`` the same widget is returned
    every time for one run object; ``options`` (``layout_engine``, ``rankdir``, ...; see
    :class:`RunWidget`) make a new one.
    """
    from .widget import RunWidget

    run = _resolve(run)
    if options:
        return RunWidget(run, **options)
    widget = _WIDGETS.get(run)
    if widget is None:
        widget = RunWidget(run)
        remember(run, widget)
    return widget


def _resolve(run: Run | str | None) -> Run:
    from ..engine.run import Run

    if isinstance(run, Run):
        return run
    from ..api import get_run

    return get_run(run)


def show(run: Run | str | None = None, **options: Any) -> None:
    """Display the interactive graph of ``run`` (a run object, a run id, or the latest run).

    In a notebook executed without a frontend (papermill, ``nbconvert --execute``), its
    static graph instead (see :mod:`nbflow.widget.headless`).
    """
    from IPython import get_ipython

    from .headless import StaticGraph, live_frontend

    shell = get_ipython()
    if getattr(shell, "kernel", None) is not None and not live_frontend(shell):
        StaticGraph(_resolve(run)).show()
        return
    graph(run, **options).show()


def remember(run: Run, widget: RunWidget) -> None:
    """Make ``widget`` the one :func:`graph` returns for ``run``."""
    _WIDGETS[run] = widget


def widget_of(run: Run) -> RunWidget | None:
    """The widget :func:`graph` made for ``run``, if any."""
    return _WIDGETS.get(run)


def register_display(shell: Any) -> None:
    """Show run objects in ``shell``'s rich output as their static graph and summary.

    Registered by name, so that nothing is imported before a run is displayed.
    """
    formatter = shell.display_formatter.mimebundle_formatter
    formatter.for_type_by_name("nbflow.engine.run", "Run", _mimebundle)


def _mimebundle(run: Run, include: Any = None, exclude: Any = None) -> dict[str, Any]:
    from .static import mimebundle

    return mimebundle(run)


def __getattr__(name: str) -> Any:
    if name == "RunWidget":  # imported on use: anywidget and ipywidgets are not light
        from .widget import RunWidget

        return RunWidget
    raise AttributeError(name)
