"""What the operator and the workers exchange about a pod: what to run, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..vocab import Phase

__all__ = ["PodRequest", "PodResult"]


@dataclass
class PodRequest:
    """A pod the workers should run: the substituted template and its resolved artifacts."""

    node_id: str
    name: str
    template: dict[str, Any]
    inputs: dict[str, Any]
    deadline_s: float | None = None


@dataclass
class PodResult:
    """How a pod ended, as reported by a worker."""

    phase: Phase
    message: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    memoization: dict[str, Any] | None = None
