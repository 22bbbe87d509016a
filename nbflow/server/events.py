"""The ``nbflow/api/events`` WebSocket: live run summaries and node states (see :mod:`.hub`)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import NbflowError
from .base import AUTH_RESOURCE

if TYPE_CHECKING:
    from .hub import EventHub

__all__ = ["EventsHandler"]


class EventsHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One browser's connection: it sends ``{"subscribe": run}`` / ``{"unsubscribe": run}``
    and receives the hub's messages."""

    auth_resource = AUTH_RESOURCE

    def initialize(self) -> None:
        """A new connection subscribes to nothing."""
        self.subscriptions: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def hub(self) -> EventHub:
        """The extension's event hub."""
        return self.settings["nbflow_hub"]

    def set_default_headers(self) -> None:
        """No HTTP headers of JupyterHandler's: they mean nothing to a WebSocket."""

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize (``read`` on ``nbflow``), then upgrade to a WebSocket."""
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403, "User is not authorized to read on resource: nbflow.")
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Start receiving the hub's messages."""
        super().open()
        self.hub.start()
        self.hub.clients.add(self)

    def on_message(self, message: str | bytes) -> None:
        """``{"subscribe": run}`` or ``{"unsubscribe": run}``."""
        try:
            data = json.loads(message)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("subscribe"), str):
            task = asyncio.get_running_loop().create_task(self._subscribe(data["subscribe"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(data, dict) and isinstance(data.get("unsubscribe"), str):
            self.hub.unsubscribe(self, data["unsubscribe"])
        else:
            self.send(
                {"type": "error", "message": 'expected {"subscribe": run} or {"unsubscribe": run}'}
            )

    async def _subscribe(self, run_id: str) -> None:
        try:
            await self.hub.subscribe(self, run_id)
        except NbflowError as exc:
            self.send({"type": "error", "run": run_id, "message": str(exc)})
        except Exception:
            self.log.exception("nbflow: subscribing to run %s failed", run_id)
            self.send({"type": "error", "run": run_id, "message": "internal error (see the "
                       "server's log)"})

    def send(self, message: dict[str, Any]) -> bool:
        """Send one message; ``False`` once the connection is closed."""
        if self.ws_connection is None or self.ws_connection.is_closing():
            return False
        try:
            sent = self.write_message(json.dumps(message, default=str))
        except WebSocketClosedError:
            return False
        sent.add_done_callback(_retrieve)  # a write cut by a closing socket is not an error
        return True

    def on_close(self) -> None:
        """Forget this connection."""
        self.hub.unsubscribe(self)
        self.hub.clients.discard(self)


def _retrieve(future: Any) -> None:
    future.exception()
