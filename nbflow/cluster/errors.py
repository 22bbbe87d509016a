"""Errors of the Kubernetes backend, and the table that turns API failures into them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import NbflowError, RunNotFound

__all__ = [
    "ClusterError",
    "ClusterUnreachable",
    "Unauthorized",
    "Forbidden",
    "ArgoNotInstalled",
    "ObjectNotFound",
    "Conflict",
    "Invalid",
    "Expired",
    "Operation",
    "translate",
]

ARGO_INSTALL = "https://argo-workflows.readthedocs.io/en/latest/installation/"


class ClusterError(NbflowError):
    """A Kubernetes or Argo operation failed."""


class ClusterUnreachable(ClusterError, ConnectionError):
    """The Kubernetes API cannot be reached, or no configuration says where it is."""


class Unauthorized(ClusterError, PermissionError):
    """The API server rejected the credentials (HTTP 401)."""


class Forbidden(ClusterError, PermissionError):
    """RBAC refused an operation (HTTP 403); ``verb``, ``resource``, ``namespace`` say which."""

    def __init__(self, message: str, verb: str = "", resource: str = "", namespace: str = ""):
        super().__init__(message)
        self.verb, self.resource, self.namespace = verb, resource, namespace

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.verb, self.resource, self.namespace))


class ArgoNotInstalled(ClusterError):
    """The cluster serves no ``argoproj.io`` Workflow resources (the CRDs are missing)."""


class ObjectNotFound(RunNotFound, ClusterError):
    """The workflow (or pod, template, namespace) does not exist (HTTP 404)."""


class Conflict(ClusterError):
    """The object exists already, or changed under an update (HTTP 409)."""


class Invalid(ClusterError, ValueError):
    """The API server rejected the object (HTTP 422: schema or CEL validation)."""


class Expired(ClusterError):
    """A watch asked for a resourceVersion the server no longer has (HTTP 410 Gone)."""


@dataclass(frozen=True)
class Operation:
    """What the client was doing, for error messages.

    Parameters
    ----------
    verb : str
        Kubernetes verb: ``create``, ``get``, ``list``, ``watch``, ``patch``, ``update``,
        ``delete``.
    resource : str
        ``workflows.argoproj.io``, ``pods``, ``pods/log``...
    namespace : str, optional
        ``None`` for cluster-scoped resources.
    name : str, optional
        The object's name, for operations on one object.
    """

    verb: str
    resource: str
    namespace: str | None
    name: str | None = None

    @property
    def kind(self) -> str:
        """Singular, human name of the resource (``workflow``, ``pod``...)."""
        base = self.resource.split(".")[0].split("/")[0]
        return base[:-1] if base.endswith("s") else base

    @property
    def scope(self) -> str:
        return f"in namespace {self.namespace}" if self.namespace else "cluster-wide"


def status_of(body: Any) -> dict[str, Any]:
    """The Kubernetes ``Status`` object in an error body (``{}`` if the body is not one)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return {}
    return data if isinstance(data, dict) and data.get("kind") == "Status" else {}


def translate(status: int, body: Any, op: Operation) -> ClusterError:
    """Turn an HTTP error of the Kubernetes API into the matching :class:`ClusterError`."""
    st = status_of(body)
    handler = _TABLE.get(status)
    if handler is not None:
        return handler(op, st)
    message = st.get("message") or (body if isinstance(body, str) else "")[:300] or "no details"
    return ClusterError(
        f"the Kubernetes API failed to {op.verb} {op.resource} {op.scope} "
        f"(HTTP {status}): {message}"
    )


def _unauthorized(op: Operation, st: dict[str, Any]) -> ClusterError:
    return Unauthorized(
        "unauthorized: the Kubernetes API rejected the credentials of your kubeconfig "
        "(expired token or certificate?)"
    )


def _forbidden(op: Operation, st: dict[str, Any]) -> ClusterError:
    return Forbidden(
        f"forbidden: cannot {op.verb} {op.resource} {op.scope} (nbflow k8s rbac prints the "
        "Role your administrator can grant)",
        op.verb,
        op.resource,
        op.namespace or "",
    )


def _not_found(op: Operation, st: dict[str, Any]) -> ClusterError:
    details = st.get("details") or {}
    if details.get("kind") == "namespaces":
        return ObjectNotFound(f"namespace {details.get('name')!r} does not exist")
    if not st and op.resource.endswith("argoproj.io"):
        # A resource nobody serves gets the apiserver's plain "404 page not found" (its
        # NotFoundHandler), where a missing object gets a Status.
        return ArgoNotInstalled(
            f"Argo Workflows is not installed in this cluster (it serves no {op.resource}); "
            f"see {ARGO_INSTALL}"
        )
    name = details.get("name") or op.name
    return ObjectNotFound(f"no {op.kind} {name!r} {op.scope}" if name else
                          f"no such {op.kind} {op.scope}")


def _conflict(op: Operation, st: dict[str, Any]) -> ClusterError:
    if st.get("reason") == "AlreadyExists":
        name = (st.get("details") or {}).get("name") or op.name
        return Conflict(f"a {op.kind} named {name!r} already exists {op.scope}")
    return Conflict(
        f"{op.kind} {op.name!r} was changed by someone else while nbflow updated it; try again"
    )


def _invalid(op: Operation, st: dict[str, Any]) -> ClusterError:
    causes = [
        f"{c.get('field', '')}: {c.get('message', '')}".strip(": ")
        for c in (st.get("details") or {}).get("causes") or []
    ]
    what = "; ".join(causes) or st.get("message") or "invalid object"
    return Invalid(f"the Kubernetes API rejected the {op.kind}: {what}")


def _expired(op: Operation, st: dict[str, Any]) -> ClusterError:
    return Expired(f"cannot {op.verb} {op.resource} from that version any more: "
                   f"{st.get('message') or 'gone'}")


_TABLE = {
    401: _unauthorized,
    403: _forbidden,
    404: _not_found,
    409: _conflict,
    410: _expired,
    422: _invalid,
}
