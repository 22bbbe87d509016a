"""Notifications on a cluster: an exit handler that Argo runs after the workflow, whatever its
outcome, as a container ``python -m nbflow.notify`` in the runner image.

The container gets ``{{workflow.status}}`` and ``{{workflow.failures}}`` (each failed step's
message is the runner's termination message: the failing cell's error line), the targets
(names and addresses only) and the non-secret SMTP settings as arguments; the SMTP login and
the webhook URLs come as environment variables from the Secret ``NotifyConfig.cluster_secret``
(``secretKeyRef``, optional keys), never from the manifest.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from ..argo.limits import workflow_spec
from ..vocab import LABEL_WORKFLOW

if TYPE_CHECKING:
    from ..config import NbflowConfig

__all__ = ["NOTIFY_TEMPLATE", "add_exit_handler"]

NOTIFY_TEMPLATE = "nbflow-notify"
EXIT_DAG = "nbflow-exit"


def _secret_env(secret: str, notify: dict[str, Any]) -> list[dict[str, Any]]:
    from .config import webhook_env

    pairs = [("NBFLOW_SMTP_USER", "smtp-user"), ("NBFLOW_SMTP_PASSWORD", "smtp-password")]
    for target in notify.get("targets") or []:
        if target["kind"] != "email":
            pairs.append((webhook_env(target["name"]), f"webhook-{target['name']}"))
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key,
                                                     "optional": True}}}
        for env, key in dict(pairs).items()
    ]


def notify_template(manifest: dict[str, Any], notify: dict[str, Any], *, image: str,
                    config: NbflowConfig) -> dict[str, Any]:
    """The container template that sends the notifications of ``manifest``'s runs."""
    from ..cluster.options import load_cluster_config
    from .config import load_notify_config

    ncfg = load_notify_config(config)
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    workflow = labels.get(LABEL_WORKFLOW) or "{{workflow.name}}"
    args = ["--workflow", workflow, "--run", "{{workflow.name}}",
            "--status", "{{workflow.status}}", "--failures", "{{workflow.failures}}",
            "--notify", json.dumps(notify, sort_keys=True, separators=(",", ":")),
            "--smtp-host", ncfg.smtp_host, "--smtp-port", str(ncfg.smtp_port),
            "--sender", ncfg.sender]
    if not ncfg.smtp_starttls:
        args.append("--no-starttls")
    if ncfg.run_url:
        args += ["--run-url", ncfg.run_url]
    notebooks = load_cluster_config(config).artifact_root
    if notebooks:
        args += ["--notebooks", notebooks]
    return {
        "name": NOTIFY_TEMPLATE,
        "container": {
            "image": image,
            "command": ["python", "-m", "nbflow.notify"],
            "args": args,
            "env": _secret_env(ncfg.cluster_secret, notify),
        },
    }


def add_exit_handler(manifest: dict[str, Any], notify: dict[str, Any], *, image: str,
                     config: NbflowConfig) -> dict[str, Any]:
    """A copy of ``manifest`` whose exit handler also sends the notifications.

    A workflow with its own ``onExit`` gets a DAG exit handler running both.
    """
    out = copy.deepcopy(manifest)
    spec = workflow_spec(out)
    spec["templates"] = [t for t in spec.get("templates") or []
                         if t["name"] not in (NOTIFY_TEMPLATE, EXIT_DAG)]
    spec["templates"].append(notify_template(out, notify, image=image, config=config))
    own = spec.get("onExit")
    if own:
        spec["templates"].append({"name": EXIT_DAG, "dag": {"tasks": [
            {"name": "on-exit", "template": own},
            {"name": "notify", "template": NOTIFY_TEMPLATE},
        ]}})
        spec["onExit"] = EXIT_DAG
    else:
        spec["onExit"] = NOTIFY_TEMPLATE
    return out
