"""Settings that travel to every nbflow step as environment variables of its container."""

from __future__ import annotations

import copy
from typing import Any

from .container import runs_nbflow

__all__ = ["with_step_env"]


def with_step_env(manifest: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """A copy of ``manifest`` whose nbflow steps (``python -m nbflow.runner``) get ``env``.

    A variable the container already sets is replaced. With an empty ``env`` the manifest is
    returned as it is, so that default settings leave manifests unchanged.
    """
    if not env:
        return manifest
    out = copy.deepcopy(manifest)
    for tmpl in (out.get("spec") or {}).get("templates") or []:
        if not runs_nbflow(tmpl):
            continue
        container = tmpl["container"]
        kept = [e for e in container.get("env") or [] if e.get("name") not in env]
        container["env"] = kept + [{"name": k, "value": v} for k, v in sorted(env.items())]
    return out
