"""Handlers of ``runs``: list and start runs, read one, act on it, delete it."""

from __future__ import annotations

from typing import Any

from .. import actions
from .base import ApiError, NbflowHandler, endpoint

__all__ = ["RunsHandler", "RunHandler", "ActionHandler"]

PAGE_DEFAULT = 50


class RunsHandler(NbflowHandler):
    """``GET runs`` (the run list) and ``POST runs`` (run a notebook's workflow)."""

    @endpoint
    async def get(self) -> None:
        """``?workflow=W&phase=P&notebook=PATH&limit=50&offset=0`` → ``{"runs", "total"}``."""
        service = self.service
        limit = self.int_argument("limit", PAGE_DEFAULT, 1, self.settings["nbflow_page_max"])
        offset = self.int_argument("offset", 0, 0)
        if service.index.age_s() > self.settings["nbflow_list_max_age_s"]:
            await service.blocking(service.index.refresh)  # else the watcher keeps it fresh
        runs, total = service.index.query(
            workflow=self.get_query_argument("workflow", None),
            phase=self.get_query_argument("phase", None),
            notebook=self.get_query_argument("notebook", None),
            limit=limit,
            offset=offset,
        )
        self.reply({"runs": runs, "total": total})

    @endpoint
    async def post(self) -> None:
        """``{"notebook", "workflow"?, "parameters"?}`` → 201 ``{"id"}``: the run starts here,
        without a kernel, as ``nbflow run NOTEBOOK -w WORKFLOW -p k=v`` would."""
        body = self.body()
        service = self.service
        path = self.notebook_file(self.field(body, "notebook", required=True))
        run = await service.blocking(
            actions.run_notebook,
            path,
            workflow=self.field(body, "workflow"),
            assignments=_assignments(body.get("parameters")),
            config=service.config,
        )
        service.adopt(run)
        self.reply({"id": run.id}, status=201)


class RunHandler(NbflowHandler):
    """``GET runs/{run}`` (its summary and Workflow object) and ``DELETE runs/{run}``."""

    @endpoint
    async def get(self, run_id: str) -> None:
        """→ ``{"summary", "workflow"}``."""
        service = self.service
        run, settings = await service.blocking(service.snapshot, run_id)
        summary = await service.blocking(service.summary, run, settings)
        self.reply({"summary": summary, "workflow": run.workflow})

    @endpoint
    async def delete(self, run_id: str) -> None:
        """→ 204; 409 while the run runs."""
        service = self.service
        if service.driven_here(run_id) is not None:
            raise ApiError(409, f"run {run_id} is still running: stop it first")
        await service.blocking(actions.delete_run, run_id, config=service.config)
        await service.blocking(service.index.refresh)
        self.set_status(204)
        self.finish()


class ActionHandler(NbflowHandler):
    """``POST runs/{run}/actions/{action}`` with ``{"task"?, "nodes"?}`` → ``{"id", "phase"}``."""

    @endpoint
    async def post(self, run_id: str, action: str) -> None:
        """Stop, terminate, retry, resume, resume_run or rerun the run."""
        if action not in actions.ACTIONS:
            raise ApiError(404, f"no action {action!r} (one of {', '.join(actions.ACTIONS)})")
        body = self.body()
        nodes = body.get("nodes")
        if nodes is not None and (
            not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes)
        ):
            raise ApiError(400, "nodes must be a list of node names")
        service = self.service
        run = await service.blocking(
            actions.act,
            run_id,
            action,
            task=self.field(body, "task"),
            nodes=nodes,
            config=service.config,
            live=service.driven_here(run_id),
        )
        service.adopt(run)
        self.reply({"id": run.id, "phase": run.phase})


def _assignments(parameters: Any) -> list[str]:
    """``{"k": v}`` as ``-p`` texts (see :func:`nbflow.actions.assignments`)."""
    if parameters is None:
        return []
    if not isinstance(parameters, dict):
        raise ApiError(400, "parameters must be an object of name: value")
    return actions.assignments(parameters)
