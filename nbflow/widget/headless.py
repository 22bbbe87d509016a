"""The run graph of a notebook executed without a frontend (papermill, nbconvert): static HTML.

Nobody clicks a widget there, and a widget would save its JavaScript and state in the
notebook; the static picture (:mod:`nbflow.widget.static`) is what the file keeps, shown
when the run starts and replaced by the final one when it ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .static import static_html

if TYPE_CHECKING:
    from ..engine.run import Run

__all__ = ["StaticGraph", "live_frontend"]


def live_frontend(shell: Any) -> bool:
    """Whether the cell being executed came from a frontend that draws widgets.

    Notebook executors (nbclient, under papermill and ``nbconvert --execute``) send their
    requests with ``allow_stdin`` false, as they cannot answer ``input()``; JupyterLab,
    Notebook and VS Code allow it. Without a kernel (a plain IPython shell) there is none.
    """
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return False
    try:
        parent = kernel.get_parent("shell") or {}
    except (AttributeError, TypeError):
        return True
    content = parent.get("content") or {}
    return bool(content.get("allow_stdin", True))


class StaticGraph:
    """A run's static graph in the cell's output, updated in place when :meth:`finish` runs."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._handle: Any = None

    def bundle(self) -> dict[str, str]:
        """``text/plain`` (the summary) and ``text/html`` (the SVG or table) of the run now."""
        with self.run.lock:
            return {"text/plain": self.run.summary(), "text/html": static_html(self.run.workflow)}

    def show(self) -> None:
        """Display the graph as it is now."""
        from IPython.display import display

        self._handle = display(self.bundle(), raw=True, display_id=True)

    def finish(self) -> None:
        """Replace the displayed graph with the run as it is now (at its end)."""
        if self._handle is not None:
            self._handle.update(self.bundle(), raw=True)
