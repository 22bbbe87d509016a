"""The base of every REST handler: the ``nbflow`` auth resource, JSON in and out, and errors as
``{"message": "one line"}`` with the status that fits (never a traceback)."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import NbflowError, RunNotFound, RunStateError, SpecError, StorageError
from ..schedule.store import ScheduleExists, ScheduleNotFound
from .service import PathRefused
from .views import NodeNotFound

if TYPE_CHECKING:
    from pathlib import Path

    from .service import NbflowService

__all__ = ["NbflowHandler", "ApiError", "status_for", "translated", "endpoint", "AUTH_RESOURCE"]

AUTH_RESOURCE = "nbflow"
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

# Most specific first: the first class an error is an instance of gives its status.
_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (PathRefused, 403),
    (ScheduleNotFound, 404),
    (ScheduleExists, 409),
    (RunNotFound, 404),
    (NodeNotFound, 404),
    (RunStateError, 409),
    (SpecError, 400),
    (StorageError, 502),
    (NbflowError, 400),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status of an nbflow error (400 for one the user can fix by asking otherwise)."""
    return next((status for cls, status in _STATUS if isinstance(exc, cls)), 500)


class ApiError(web.HTTPError):
    """An HTTP error whose ``message`` goes to the client as is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, "%s", message)
        self.message = message


def translated(method: F) -> F:
    """Turn the nbflow errors ``method`` raises into :class:`ApiError` with their status."""

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except NbflowError as exc:
            raise ApiError(status_for(exc), _one_line(str(exc))) from exc

    return wrapper  # type: ignore[return-value]


def endpoint(method: F) -> F:
    """A handler method: the user logged in, authorized on ``nbflow`` for the method's action,
    and its nbflow errors answered as :class:`ApiError`."""
    return web.authenticated(authorized(translated(method)))  # type: ignore[return-value]


def _formatted(exc: web.HTTPError) -> str:
    if not exc.log_message:
        return exc.reason or ""
    try:
        return exc.log_message % exc.args if exc.args else exc.log_message
    except (TypeError, ValueError):
        return exc.log_message


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else "; ".join(lines) if lines else "error"


class NbflowHandler(APIHandler):
    """JSON handlers of ``nbflow/api/...``; authorization resource ``nbflow``."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> NbflowService:
        """The extension's shared state."""
        return self.settings["nbflow_service"]

    async def prepare(self) -> None:  # type: ignore[override]
        """Check the request as jupyter_server does; have the run store watched."""
        await super().prepare()
        self.settings["nbflow_hub"].start()

    def notebook_file(self, path: str) -> Path:
        """The file ``path`` names under the server's root (403 outside it, 404 if missing)."""
        full = self.service.confine(path)
        if not full.is_file():
            raise ApiError(404, f"no such notebook: {path!r}")
        return full

    def get_login_url(self) -> str:
        """An API answers a missing login with 401 rather than a redirect (or 403)."""
        if not self.current_user:
            raise ApiError(401, "authentication required: log in or pass the server's token")
        return str(super().get_login_url())

    def body(self) -> dict[str, Any]:
        """The request's JSON object (``{}`` for an empty body)."""
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError as exc:
            raise ApiError(400, f"the request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    def field(self, body: dict[str, Any], key: str, required: bool = False) -> Any:
        """A non-empty string member of the body (``None`` when absent and not required)."""
        value = body.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"{key} must be a non-empty string")
        return value

    def int_argument(self, name: str, default: int, low: int, high: int | None = None) -> int:
        """A whole-number query argument within ``[low, high]``."""
        text = self.get_query_argument(name, None)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ApiError(400, f"{name} must be a whole number, not {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ApiError(400, f"{name} must be {bound}, not {value}")
        return value

    def reply(self, data: Any, status: int = 200) -> None:
        """Finish with ``data`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are ``{"message": ...}``; an unexpected one is logged, never shown."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, ApiError):
            message = exc.message
        elif isinstance(exc, web.HTTPError):
            message = _formatted(exc) or f"HTTP {status_code}"
        else:
            message = "internal error in nbflow's server extension (details in the server log)"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))
