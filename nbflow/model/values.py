"""Reading the values a user writes: durations, parameter literals, ``k=v`` and names."""

from __future__ import annotations

import ast
import re
from typing import Any

__all__ = [
    "parse_duration",
    "format_duration",
    "parse_value",
    "parse_assignment",
    "k8s_name",
    "K8S_NAME",
    "ARGO_NAME",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int) -> float:
    """Parse ``"90"``, ``"2s"``, ``"1m30s"``, ``"10m"`` or ``"2h"`` into seconds.

    A bare number means seconds (as in Argo). Raises ``ValueError`` on anything else.
    """
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 2h)")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as a Go duration string accepted by Argo (``"90s"``, ``"1.5s"``)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:g}s"


def parse_value(text: str) -> Any:
    """Read a parameter value: a Python literal when it is one, otherwise the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split ``"k=v"`` into ``("k", parse_value("v"))``; raise ``ValueError`` if malformed."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    return key, parse_value(value)


K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
ARGO_NAME = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")


def k8s_name(name: str) -> str:
    """Map a Python-style name to the name used in manifests (``_`` becomes ``-``)."""
    return name.replace("_", "-")
