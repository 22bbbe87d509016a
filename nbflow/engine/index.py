"""The run's record of what every artifact holds: artifact key to content digest and producer.

Fed from the nodes' ``nbflow-digests`` outputs (trusted: they live in the run record, or in the
Workflow's status on a cluster); it gives the cache keys their input digests and each step the
expectation its inputs are checked against (see :mod:`nbflow.digest`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..vocab import DIGESTS, NodeType
from .nodes import Node

__all__ = ["DigestIndex", "recorded_digests", "task_of"]

_ITEM = re.compile(r"([0-9]+)/(.+?)/?")


def recorded_digests(outputs: dict[str, Any]) -> dict[str, str]:
    """``{artifact name: digest}`` of a node's ``outputs`` (its ``nbflow-digests`` parameter)."""
    params = {p["name"]: p.get("value") for p in outputs.get("parameters") or []}
    try:
        digests = json.loads(params.get(DIGESTS) or "{}")
    except ValueError:
        return {}
    return digests if isinstance(digests, dict) else {}


def task_of(node_name: str) -> str:
    """The task a node belongs to: ``run.train(2:2)(0)`` is task ``train``."""
    return node_name.split(".", 1)[-1].split("(", 1)[0]


class DigestIndex:
    """Artifact key → content digest (and producer task), fed from the nodes' ``nbflow-digests``
    outputs: the run's trusted record of what each artifact must hold."""

    def __init__(self, nodes: dict[str, Node] | None = None) -> None:
        self.by_key: dict[str, str] = {}
        self.producer: dict[str, str] = {}
        self.nodes = nodes if nodes is not None else {}  # live: mapped tasks' item counts
        for node in self.nodes.values():
            self.add(node.get("outputs") or {}, task_of(node.get("name") or ""))

    def add(self, outputs: dict[str, Any], producer: str = "") -> None:
        """Record the digests of one node's outputs (``producer``: its task, for messages)."""
        digests = recorded_digests(outputs)
        for art in outputs.get("artifacts") or []:
            if art["name"] in digests and "s3" in art:
                self.by_key[art["s3"]["key"]] = digests[art["name"]]
                if producer:
                    self.producer[art["s3"]["key"]] = producer

    def expect(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The expectation of a step with these resolved ``inputs`` (see :mod:`nbflow.digest`):
        each input artifact whose producer recorded a digest in this run."""
        out: dict[str, Any] = {}
        for art in inputs.get("artifacts") or []:
            key = (art.get("s3") or {}).get("key")
            if not key or "raw" in art:
                continue
            if key in self.by_key:
                task = self.producer.get(key) or _task_of_key(key)
                out[art["name"]] = {"task": task, "key": key, "digest": self.by_key[key]}
            elif key.endswith("/"):
                items, task = self._items(key, art["name"])
                if items:
                    entry = {"task": task, "key": key, "items": items}
                    count = self._count(task)
                    if count is not None:
                        entry["count"] = count
                    out[art["name"]] = entry
        return out

    def _count(self, task: str) -> int | None:
        """How many items the mapped task ``task`` has (``None``: unknown)."""
        groups = [
            n for n in self.nodes.values()
            if n.get("type") == NodeType.TASK_GROUP and n.get("displayName") == task
        ]
        return len(groups[0].get("children") or []) if len(groups) == 1 else None

    def _items(self, prefix: str, name: str) -> tuple[dict[str, str], str]:
        items, task = {}, _task_of_key(prefix)
        for key, digest in self.by_key.items():
            m = _ITEM.fullmatch(key[len(prefix) :]) if key.startswith(prefix) else None
            if m and m.group(2) == name:
                items[m.group(1)] = digest
                task = self.producer.get(key) or task
        return items, task

    def digest(self, key: str) -> str | None:
        """The digest of ``key``; a folder prefix digests everything stored under it."""
        if key in self.by_key:
            return self.by_key[key]
        if not key.endswith("/"):
            return None
        # keys relative to the prefix: the run's name in it must not change the digest
        inside = sorted((k[len(key):], d) for k, d in self.by_key.items() if k.startswith(key))
        return hashlib.sha256(json.dumps(inside).encode()).hexdigest() if inside else None


def _task_of_key(key: str) -> str:
    """The task of a key laid out as ``<workflow>/<run>/<task>[/<item>]/<name>``."""
    parts = key.strip("/").split("/")
    return parts[2] if len(parts) >= 3 else key
