"""The run graph widget: live phases, retries, mapped tasks, details and actions (anywidget)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.run import Run

__all__ = ["RunWidget", "show"]


def show(run: Run | str | None = None, **options: Any) -> None:
    """Display the interactive graph of ``run`` (a run object, a run id, or the latest run).

    ``options`` go to :class:`RunWidget` (``layout_engine``, ``rankdir``, ...). The graph is
    live while the run goes on in this kernel; ``run.widget()`` gives the widget itself.
    """
    from ..engine.run import Run

    if not isinstance(run, Run):
        from ..api import get_run

        run = get_run(run)
    run.widget(**options).show()


def __getattr__(name: str) -> Any:
    if name == "RunWidget":  # imported on use: anywidget and ipywidgets are not light
        from .widget import RunWidget

        return RunWidget
    raise AttributeError(name)
