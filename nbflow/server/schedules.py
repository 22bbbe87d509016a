"""Handlers of ``schedules``: thin front ends of :mod:`nbflow.schedule.requests` (the same
actions as ``nbflow schedule`` and ``%nbflow schedule``), run off the event loop."""

from __future__ import annotations

from ..schedule import requests
from .base import ApiError, NbflowHandler, endpoint

__all__ = [
    "SchedulesHandler",
    "ScheduleHandler",
    "ScheduleActionHandler",
    "ScheduleHistoryHandler",
    "DescribeHandler",
]


class SchedulesHandler(NbflowHandler):
    """``GET schedules`` → ``{"schedules": [...]}``; ``POST schedules`` → 201 summary."""

    @endpoint
    async def get(self) -> None:
        """Every schedule of the server's nbflow home."""
        service = self.service
        self.reply(await service.blocking(requests.listing, service.config))

    @endpoint
    async def post(self) -> None:
        """Schedule a notebook under the root (body: see :mod:`nbflow.schedule.requests`)."""
        body = self.body()
        service = self.service
        path = self.notebook_file(self.field(body, "notebook", required=True))
        self.reply(await service.blocking(requests.create, body, path, service.config),
                   status=201)


class ScheduleHandler(NbflowHandler):
    """``GET``, ``PATCH`` and ``DELETE schedules/{name}``."""

    @endpoint
    async def get(self, name: str) -> None:
        """The summary, the CronWorkflow with its status, and the next 5 times."""
        service = self.service
        self.reply(await service.blocking(requests.one, name, service.config))

    @endpoint
    async def patch(self, name: str) -> None:
        """Change spec fields (Argo's names; ``null`` removes one) or ``notify``."""
        service = self.service
        self.reply(await service.blocking(requests.patch, name, self.body(), service.config))

    @endpoint
    async def delete(self, name: str) -> None:
        """Remove the schedule (its runs stay) → 204."""
        service = self.service
        await service.blocking(requests.remove, name, service.config)
        self.set_status(204)
        self.finish()


class ScheduleActionHandler(NbflowHandler):
    """``POST schedules/{name}/actions/{pause|resume|run-now}``."""

    @endpoint
    async def post(self, name: str, action: str) -> None:
        """Pause or resume (→ the summary), or start a run now (→ ``{"run"}``)."""
        if action not in requests.ACTIONS:
            raise ApiError(404, f"no action {action!r} (one of {', '.join(requests.ACTIONS)})")
        service = self.service
        self.reply(await service.blocking(requests.act, name, action, service.config))


class ScheduleHistoryHandler(NbflowHandler):
    """``GET schedules/{name}/history`` → ``{"runs": [...]}``, newest first."""

    @endpoint
    async def get(self, name: str) -> None:
        """The runs the schedule fired that are kept, with their phases."""
        service = self.service
        self.reply(await service.blocking(requests.history, name, service.config))


class DescribeHandler(NbflowHandler):
    """``GET schedules/describe?cron=...[&cron=...]&timezone=...`` → ``{"text", "next"}``."""

    @endpoint
    async def get(self) -> None:
        """A schedule in words and its next 5 times (RFC 3339, UTC)."""
        cron = self.get_query_arguments("cron")
        timezone = self.get_query_argument("timezone", None)
        count = self.int_argument("count", 5, 1, 50)
        self.reply(await self.service.blocking(requests.describe, cron, timezone, count))
