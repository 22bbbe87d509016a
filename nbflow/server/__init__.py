"""nbflow's jupyter_server extension: REST API and live updates over nbflow's runs (``API.md``)."""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The extension jupyter_server loads (``jupyter-config/server-config/nbflow.json`` enables
    it); imported only when a server starts, so ``import nbflow`` stays light."""
    from .app import NbflowExtension

    return [{"module": "nbflow.server", "app": NbflowExtension}]
