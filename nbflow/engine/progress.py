"""Plain-text progress: one line per phase change of a task, an item or an attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TextIO

from ..vocab import COMPLETED, NodeType
from .nodes import readable_name

__all__ = ["ProgressPrinter"]

_SHOWN = (NodeType.POD, NodeType.SKIPPED)


class ProgressPrinter:
    """A run listener that writes ``HH:MM:SS  name  Phase  message`` lines to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last: dict[str, str] = {}
        self._started = False

    def __call__(self, workflow: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
        name = workflow["metadata"]["name"]
        if not self._started:
            self._started = True
            self._line(f"run {name} started")
        for node in nodes:
            if node.get("type") not in _SHOWN or self._last.get(node["id"]) == node["phase"]:
                continue
            self._last[node["id"]] = node["phase"]
            label = readable_name(node["name"].removeprefix(name + "."))
            msg = (
                f"  {node['message']}" if node.get("message") and node["phase"] != "Running" else ""
            )
            self._line(f"{label:<32} {node['phase']}{msg}")
        status = workflow.get("status", {})
        if status.get("phase") in COMPLETED and not self._last.get(name):
            self._last[name] = status["phase"]
            self._line(f"run {name} {status['phase']}")

    def _line(self, text: str) -> None:
        self.stream.write(f"{datetime.now():%H:%M:%S}  {text}\n")
        self.stream.flush()
