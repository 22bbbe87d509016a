"""What ``--notify`` says: targets (``email:ADDR[,ADDR]``, ``webhook:NAME``, ``slack:NAME``),
when (``failure``, ``success``, ``always``) and whether to attach the executed notebook.

Targets name configured channels, never secrets: a webhook's URL (which often is a secret)
comes from ``c.NotifyConfig.webhooks[NAME]`` or ``$NBFLOW_WEBHOOK_<NAME>``, so that a notebook,
a manifest or a run record only ever holds ``webhook:NAME``. Pure; standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import SpecError

__all__ = ["KINDS", "WHEN", "parse_notify", "parse_target", "should_notify"]

KINDS = ("email", "webhook", "slack")
WHEN = ("failure", "success", "always")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


def parse_target(text: str) -> dict[str, Any]:
    """Read one ``--notify`` target, e.g. ``email:ops@example.com`` or ``slack:team``."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise SpecError(
            f"--notify {text!r}: expected email:ADDRESS[,ADDRESS], webhook:NAME or slack:NAME"
        )
    if kind == "email":
        addresses = [a.strip() for a in rest.split(",") if a.strip()]
        bad = [a for a in addresses if not _EMAIL.match(a)]
        if bad or not addresses:
            raise SpecError(f"--notify {text!r}: {', '.join(bad) or rest!r} is not an address")
        return {"kind": "email", "to": addresses}
    if "://" in rest or not _NAME.match(rest):
        raise SpecError(
            f"--notify {text!r}: name a webhook configured in c.NotifyConfig.webhooks (or "
            f"$NBFLOW_WEBHOOK_<NAME>); URLs are kept out of notebooks and manifests"
        )
    return {"kind": kind, "name": rest}


def parse_notify(
    targets: Sequence[str] | None, when: str | None = None, attach: bool = False
) -> dict[str, Any] | None:
    """The notification settings of a workflow or schedule (``None`` without targets)."""
    if not targets:
        if when or attach:
            raise SpecError("--notify-on and --notify-attach need --notify TARGET")
        return None
    when = when or "failure"
    if when not in WHEN:
        raise SpecError(f"--notify-on {when!r}: use one of {', '.join(WHEN)}")
    return {"targets": [parse_target(t) for t in targets], "on": when, "attach": bool(attach)}


def should_notify(notify: dict[str, Any], phase: str) -> bool:
    """Whether a run that ended in ``phase`` is to be notified."""
    when = notify.get("on") or "failure"
    failed = phase in ("Failed", "Error")
    return when == "always" or (when == "failure") == failed
