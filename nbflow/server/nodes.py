"""Handlers of one run's graph and nodes: the graph, a node's details, logs, executed notebook
and outputs. ``?node=ID`` picks one status node under the graph node (an item, an attempt)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import views
from .base import NbflowHandler, endpoint

if TYPE_CHECKING:
    from ..engine.run import Run

__all__ = ["GraphHandler", "NodeHandler", "LogsHandler", "NotebookHandler", "OutputsHandler"]

LOG_TAIL_MAX = 100_000


class _NodeHandler(NbflowHandler):
    async def run_and_node(self, run_id: str) -> tuple[Run, str | None]:
        """A stable copy of the run, and the status node ``?node=`` names (``None``: none)."""
        run, _ = await self.service.blocking(self.service.snapshot, run_id)
        return run, self.get_query_argument("node", None)


class GraphHandler(NbflowHandler):
    """``GET runs/{run}/graph`` → the widget's state (:func:`views.graph_view`)."""

    @endpoint
    async def get(self, run_id: str) -> None:
        """The graph, node states, run info and layout."""
        service = self.service
        run, _ = await service.blocking(service.snapshot, run_id)
        view = await service.blocking(views.graph_view, run, service.config.layouts_dir)
        can = service.capabilities(run_id, run)
        if can is not None:
            view["can"] = can
        self.reply(view)


class NodeHandler(_NodeHandler):
    """``GET runs/{run}/nodes/{node}`` → the details pane's content."""

    @endpoint
    async def get(self, run_id: str, node_id: str) -> None:
        """Details of a graph node (or of ``?node=``)."""
        service = self.service
        run, node = await self.run_and_node(run_id)
        self.reply(await service.blocking(views.details_view, run, node_id, node))


class LogsHandler(_NodeHandler):
    """``GET runs/{run}/nodes/{node}/logs?tail=N`` → ``{"text"}``."""

    @endpoint
    async def get(self, run_id: str, node_id: str) -> None:
        """The logs of every attempt, the last ``tail`` lines when given."""
        service = self.service
        tail = self.int_argument("tail", -1, 0, LOG_TAIL_MAX)
        run, node = await self.run_and_node(run_id)
        text = await service.blocking(
            views.logs_view, run, node_id, node, tail if tail >= 0 else None
        )
        self.reply({"text": text})


class NotebookHandler(_NodeHandler):
    """``GET runs/{run}/nodes/{node}/notebook[?format=html]`` → the executed notebook."""

    @endpoint
    async def get(self, run_id: str, node_id: str) -> None:
        """nbformat JSON by default; ``format=html`` renders it (no scripts run in it)."""
        service = self.service
        fmt = self.get_query_argument("format", "json")
        if fmt not in ("json", "html"):
            self.reply({"message": f"format must be json or html, not {fmt!r}"}, status=400)
            return
        run, node = await self.run_and_node(run_id)
        if fmt == "html":
            html = await service.blocking(views.notebook_html, run, node_id, node)
            self.finish(html, set_content_type="text/html; charset=utf-8")
            return
        data, _ = await service.blocking(views.notebook_bytes, run, node_id, node)
        self.reply(json.loads(data))


class OutputsHandler(_NodeHandler):
    """``GET runs/{run}/tasks/{task}/outputs`` → ``{"outputs": {name: {"kind", "preview",
    "size", ...}}}``."""

    @endpoint
    async def get(self, run_id: str, task: str) -> None:
        """The outputs of the task's last attempt (or of item ``?node=``), with previews."""
        service = self.service
        run, node = await self.run_and_node(run_id)
        self.reply(await service.blocking(views.outputs_view, run, task, node))
