"""Where notifications go: the ``NotifyConfig`` traitlets (SMTP server, webhooks, links).

Secrets (the SMTP password, webhook URLs) come from this config or the environment
(``$NBFLOW_SMTP_USER``, ``$NBFLOW_SMTP_PASSWORD``, ``$NBFLOW_WEBHOOK_<NAME>``); on a cluster
the exit handler gets them from a Kubernetes Secret (``cluster_secret``). They are never written
to manifests, run records or logs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from traitlets import Bool, Dict, Float, Int, Unicode, default
from traitlets.config import Configurable

from ..errors import NbflowError

if TYPE_CHECKING:
    from ..config import NbflowConfig

__all__ = ["NotifyConfig", "load_notify_config", "webhook_env"]


def webhook_env(name: str) -> str:
    """The environment variable that may hold webhook ``name``'s URL."""
    return "NBFLOW_WEBHOOK_" + "".join(c if c.isalnum() else "_" for c in name).upper()


class NotifyConfig(Configurable):
    """Settings of notifications (``c.NotifyConfig.*`` in ``nbflow_config.py``)."""

    smtp_host = Unicode("localhost", help="SMTP server that sends the emails.").tag(config=True)
    smtp_port = Int(587, help="Its port (587: submission with STARTTLS).").tag(config=True)
    smtp_starttls = Bool(
        True, help="Upgrade the connection with STARTTLS before logging in (recommended)."
    ).tag(config=True)
    smtp_cafile = Unicode(
        "", help="CA bundle that verifies the SMTP server's certificate (default: the system's)."
    ).tag(config=True)
    smtp_user = Unicode(help="SMTP login. Default: $NBFLOW_SMTP_USER; empty: no login.").tag(
        config=True
    )
    smtp_password = Unicode(help="SMTP password. Default: $NBFLOW_SMTP_PASSWORD.").tag(
        config=True
    )
    sender = Unicode("nbflow@localhost", help="From: address of the emails.").tag(config=True)
    webhooks = Dict(
        value_trait=Unicode(),
        help="Webhook URLs by name, used by --notify webhook:NAME and slack:NAME. "
        "$NBFLOW_WEBHOOK_<NAME> overrides an entry (and suffices alone).",
    ).tag(config=True)
    timeout_s = Float(10.0, help="Timeout of one webhook request or SMTP session.").tag(
        config=True
    )
    run_url = Unicode(
        "",
        help="Link to a run put in every message, with {run} and {workflow} replaced, e.g. "
        "'https://argo.example.com/workflows/team/{run}'. Empty: no link.",
    ).tag(config=True)
    cluster_secret = Unicode(
        "nbflow-notify",
        help="Kubernetes Secret the cluster's exit handler reads its credentials from (keys "
        "smtp-user, smtp-password, and webhook-<name> for each webhook), as env variables.",
    ).tag(config=True)

    @default("smtp_user")
    def _user_default(self) -> str:
        return os.environ.get("NBFLOW_SMTP_USER", "")

    @default("smtp_password")
    def _password_default(self) -> str:
        return os.environ.get("NBFLOW_SMTP_PASSWORD", "")

    def webhook_url(self, name: str) -> str:
        """The URL of webhook ``name`` (environment first, then config)."""
        url = os.environ.get(webhook_env(name)) or self.webhooks.get(name)
        if not url:
            raise NbflowError(
                f"no webhook {name!r}: set c.NotifyConfig.webhooks[{name!r}] or "
                f"${webhook_env(name)}"
            )
        return str(url)


def load_notify_config(cfg: NbflowConfig | None = None) -> NotifyConfig:
    """The notification settings from the same config files as ``cfg``."""
    from ..config import configured, load_config

    cfg = cfg if cfg is not None else load_config()
    return configured(NotifyConfig, cfg.config, "notification")
