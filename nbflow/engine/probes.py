"""Readiness of a host pod's container, as the kubelet checks it (``readinessProbe``): an HTTP
GET or a TCP connection on the pod's address, after ``initialDelaySeconds``. Host pods share
this machine's network: a pod's address is the loopback one."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Any

__all__ = ["ready", "POD_IP"]

POD_IP = "127.0.0.1"  # what {{steps.X.ip}} gives: every host pod is reached on this machine
PROBE_TIMEOUT_S = 1.0


def ready(probe: dict[str, Any] | None, elapsed_s: float) -> bool:
    """Whether a container with ``probe`` is ready ``elapsed_s`` seconds after it started (no
    probe: it is ready once it runs; an ``exec`` probe is not run on the host)."""
    if not probe:
        return True
    if elapsed_s < float(probe.get("initialDelaySeconds") or 0):
        return False
    timeout = float(probe.get("timeoutSeconds") or PROBE_TIMEOUT_S)
    if "httpGet" in probe:
        get = probe["httpGet"]
        scheme = str(get.get("scheme") or "HTTP").lower()
        url = f"{scheme}://{POD_IP}:{get.get('port')}{get.get('path') or '/'}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return 200 <= int(response.status) < 400
        except urllib.error.HTTPError as exc:
            return 200 <= exc.code < 400
        except (urllib.error.URLError, OSError, ValueError):
            return False
    if "tcpSocket" in probe:
        try:
            socket.create_connection((POD_IP, int(probe["tcpSocket"]["port"])), timeout).close()
        except OSError:
            return False
        return True
    return True
