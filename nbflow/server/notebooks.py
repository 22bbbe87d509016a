"""Handlers of ``notebooks``: a notebook's workflows, their manifest and lint, read statically
(no kernel) from the file under the server's root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import sources
from .base import ApiError, NbflowHandler, endpoint

__all__ = ["WorkflowsHandler", "CompileHandler", "LintHandler"]

KINDS = ("workflow", "workflowtemplate", "clusterworkflowtemplate", "cronworkflow")


class _NotebookHandler(NbflowHandler):
    def notebook(self, path: Any) -> Path:
        """The notebook file ``path`` names under the root (403 outside it, 404 if missing)."""
        if not isinstance(path, str) or not path:
            raise ApiError(400, "path must be the notebook's path, relative to the server's root")
        full = self.notebook_file(path)
        if full.suffix != ".ipynb":
            raise ApiError(400, f"{path!r} is not a notebook (.ipynb)")
        return full


class WorkflowsHandler(_NotebookHandler):
    """``GET notebooks/workflows?path=nb.ipynb`` → ``{"workflows": [...]}``."""

    @endpoint
    async def get(self) -> None:
        """The notebook's workflows, templates and their cells (see
        :func:`nbflow.sources.outline`). A fork server for its runs starts warming up."""
        service = self.service
        path = self.notebook(self.get_query_argument("path", None))
        workflows = await service.blocking(sources.outline, path)
        if service.warm is not None:
            for wf in workflows:
                service.prepare_warm(path, wf["name"])
        self.reply({"workflows": workflows})


class CompileHandler(_NotebookHandler):
    """``POST notebooks/compile`` ``{"path", "workflow"?, "kind"?}`` → ``{"yaml"}``."""

    @endpoint
    async def post(self) -> None:
        """The manifest ``nbflow compile`` writes."""
        body = self.body()
        kind = self.field(body, "kind")
        if kind is not None and kind.lower() not in KINDS:
            raise ApiError(400, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        path = self.notebook(body.get("path"))
        service = self.service
        text = await service.blocking(
            sources.compile_notebook,
            path,
            self.field(body, "workflow"),
            kind=kind,
            config=service.config,
        )
        self.reply({"yaml": text})


class LintHandler(_NotebookHandler):
    """``POST notebooks/lint`` ``{"path", "workflow"?}`` → ``{"problems": [...]}``."""

    @endpoint
    async def post(self) -> None:
        """What ``nbflow lint`` reports: ``level``, ``where``, ``message`` each."""
        body = self.body()
        path = self.notebook(body.get("path"))
        problems = await self.service.blocking(
            sources.lint_notebook, path, self.field(body, "workflow")
        )
        self.reply({"problems": problems})
