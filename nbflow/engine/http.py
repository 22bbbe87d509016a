"""``http`` templates: one HTTP request, made by the engine as Argo's agent makes it
(``workflow/executor/agent.go``). The response body is ``outputs.result``; the node succeeds on
a 2xx status, or when ``successCondition`` (expr, over ``request.*`` and ``response.*``)
holds. A request that cannot be made (no route, a timeout) ends the node as Error."""

from __future__ import annotations

import base64
import ssl
import threading
import urllib.error
import urllib.request
from typing import Any

from ..errors import NbflowError
from ..vocab import Phase
from .pod import PodRequest, PodResult
from .volumes import HostOptions

__all__ = ["HttpPod", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 30.0  # docs/http-template.md: "timeoutSeconds: 20 # Default 30"
RESULT_LIMIT = 256 * 1024  # like a pod's outputs.result


class HttpPod:
    """Runs the request of one ``http`` node.

    Parameters
    ----------
    request : PodRequest
        The node's substituted template.
    host : HostOptions, optional
        Loaded Secrets, for headers read from a ``secretKeyRef``.
    """

    def __init__(self, request: PodRequest, host: HostOptions | None = None) -> None:
        self.req = request
        self.spec: dict[str, Any] = request.template.get("http") or {}
        self.host = host if host is not None else HostOptions()

    def _headers(self) -> list[tuple[str, str]]:
        out = []
        for h in self.spec.get("headers") or []:
            ref = (h.get("valueFrom") or {}).get("secretKeyRef")
            value = self.host.objects.secret_key(ref, "http header") if ref else h.get("value")
            out.append((str(h.get("name", "")), str(value or "")))
        return out

    def _body(self) -> bytes:
        source = (self.spec.get("bodyFrom") or {}).get("bytes")
        if source is not None:
            return base64.b64decode(source)
        return str(self.spec.get("body") or "").encode()

    def run(self, cancel: threading.Event) -> PodResult:
        """Make the request; describe the node's end."""
        try:
            headers = self._headers()
        except NbflowError as exc:
            return PodResult(Phase.ERROR, str(exc))
        method = str(self.spec.get("method") or "GET").upper()
        url = str(self.spec.get("url") or "")
        body = self._body()
        request = urllib.request.Request(url, data=body or None, method=method)
        for name, value in headers:
            request.add_header(name, value)
        context = None
        if self.spec.get("insecureSkipVerify"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        timeout = float(self.spec.get("timeoutSeconds") or DEFAULT_TIMEOUT_S)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                status, data, reply_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:  # a response all the same: 4xx, 5xx
            status, data, reply_headers = exc.code, exc.read(), exc.headers
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return PodResult(Phase.ERROR, f"{method} {url}: {reason}")
        text = data.decode("utf-8", errors="replace")
        outputs = {"result": text[-RESULT_LIMIT:]}
        condition = self.spec.get("successCondition")
        if not condition:
            if 200 <= status < 300:
                return PodResult(Phase.SUCCEEDED, outputs=outputs)
            return PodResult(
                Phase.FAILED, f"received non-2xx response code: {status}", outputs=outputs
            )
        scope = {
            "request": {"method": method, "url": url, "body": body.decode(errors="replace"),
                        "headers": _multi(headers)},
            "response": {"statusCode": status, "body": text,
                         "headers": _multi(list(reply_headers.items()))},
        }
        from ..argo.expr import evaluate_expr

        try:
            ok = evaluate_expr(str(condition), scope, where="successCondition")
        except NbflowError as exc:
            return PodResult(Phase.ERROR, str(exc), outputs=outputs)
        if ok is True:
            return PodResult(Phase.SUCCEEDED, outputs=outputs)
        return PodResult(
            Phase.FAILED, f"successCondition '{condition}' evaluated false", outputs=outputs
        )


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out
