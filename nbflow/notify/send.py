"""Send an :class:`~.message.Outcome` to its targets: a JSON POST, or an email over SMTP.

A failed notification never fails the run: each target's result is returned (and recorded in
the run's ``run.json`` as ``notifications``) without the secrets involved.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from .message import Outcome
from .spec import should_notify

if TYPE_CHECKING:
    from .config import NotifyConfig

__all__ = ["send", "send_webhook", "send_email", "run_listener", "notebook_html"]


def target_label(target: dict[str, Any]) -> str:
    """How a target is shown in records and logs (never its URL)."""
    if target["kind"] == "email":
        return "email:" + ",".join(target["to"])
    return f"{target['kind']}:{target['name']}"


def send_webhook(outcome: Outcome, url: str, *, slack: bool, timeout_s: float) -> None:
    """POST the outcome as JSON (Slack's body with ``slack``)."""
    body = outcome.slack_body() if slack else outcome.json_body()
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "nbflow"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        response.read()


def send_email(outcome: Outcome, to: list[str], cfg: NotifyConfig,
               attachment: tuple[str, str] | None = None) -> None:
    """Send the outcome by email: STARTTLS and login as configured; ``attachment`` is a
    ``(file name, HTML text)`` pair."""
    msg = EmailMessage()
    msg["Subject"] = outcome.subject
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(to)
    msg.set_content(outcome.text())
    if attachment is not None:
        msg.add_attachment(attachment[1], subtype="html", filename=attachment[0])
    with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s) as smtp:
        smtp.ehlo()
        if cfg.smtp_starttls:
            context = ssl.create_default_context(cafile=cfg.smtp_cafile or None)
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.smtp_user:
            smtp.login(cfg.smtp_user, cfg.smtp_password)
        smtp.send_message(msg)


def notebook_html(path: str) -> tuple[str, str] | None:
    """The executed notebook at ``path`` rendered as HTML (nbconvert), or ``None``."""
    from pathlib import Path

    if not path or not Path(path).is_file():
        return None
    import nbformat
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    return Path(path).with_suffix(".html").name, html


def send(outcome: Outcome, notify: dict[str, Any], cfg: NotifyConfig) -> list[dict[str, Any]]:
    """Send ``outcome`` to every target of ``notify``; return one result per target."""
    if not should_notify(notify, outcome.phase):
        return []
    if cfg.run_url and not outcome.link:
        outcome.link = cfg.run_url.format(run=outcome.run, workflow=outcome.workflow)
    results = []
    for target in notify.get("targets") or []:
        label = target_label(target)
        try:
            if target["kind"] == "email":
                attach = None
                if notify.get("attach") and outcome.failures:
                    attach = notebook_html(outcome.failures[0].get("notebook", ""))
                send_email(outcome, target["to"], cfg, attach)
            else:
                url = cfg.webhook_url(target["name"])
                send_webhook(outcome, url, slack=target["kind"] == "slack",
                             timeout_s=cfg.timeout_s)
            results.append({"target": label, "ok": True})
        except (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as exc:
            results.append({"target": label, "ok": False, "error": _reason(exc)})
        except Exception as exc:  # noqa: BLE001 - e.g. a missing webhook: a message, not a crash
            results.append({"target": label, "ok": False, "error": str(exc)})
    return results


def _reason(exc: BaseException) -> str:
    """The reason of a failure, without the URL (it may carry a token)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def run_listener(notify: dict[str, Any], cfg: Any, store: Any, runs: Any) -> Any:
    """An engine listener that notifies once the run has ended, and records the results."""
    sent: list[bool] = []

    def listener(wf: dict[str, Any], changed: list[dict[str, Any]]) -> None:
        status = wf.get("status") or {}
        if sent or not status.get("finishedAt") or status.get("phase") not in (
            "Succeeded", "Failed", "Error"):
            return
        sent.append(True)
        from ..engine.run import Run
        from .config import load_notify_config
        from .message import outcome_of_run

        name = wf["metadata"]["name"]
        settings = runs.settings(name)
        run = Run(wf, store, runs.run_dir(name))
        results = send(outcome_of_run(run, settings), notify, load_notify_config(cfg))
        if results:
            runs.settings(name, notifications=results)

    return listener
