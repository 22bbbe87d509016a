"""Placing pods: which pending pods start now, as kube-scheduler places them on one node.

A pod takes the CPU and memory its containers request (``resources.requests``); pods that
request nothing are held back only by ``spec.parallelism`` and a cap on processes. Pods with
requests are packed against the machine's cores and memory. An nbflow notebook step that
requests no CPU counts as one core (a kernel keeps a core busy). Unlike a cluster, a pod that
asks for more than the machine has still runs, alone, rather than waiting forever.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..argo.container import runs_nbflow
from ..errors import ManifestError
from ..vocab import NodeType, Phase
from .sync import hold

if TYPE_CHECKING:
    from .operator import Operator
    from .pod import PodRequest

__all__ = [
    "Capacity",
    "Usage",
    "requests",
    "start_pods",
    "parse_cpu",
    "parse_memory",
    "NOTEBOOK_CPU_M",
]

NOTEBOOK_CPU_M = 1000  # what an nbflow step without a CPU request takes
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"([0-9.]+(?:[eE][+-]?\d+)?)(m|[kMGTPE]i?)?")


def parse_cpu(text: Any) -> int:
    """A Kubernetes CPU quantity (``500m``, ``2``, ``0.5``) in millicores (0 if unreadable)."""
    m = _QUANTITY.fullmatch(str(text).strip())
    if m is None:
        return 0
    value = float(m.group(1))
    return int(value) if m.group(2) == "m" else int(value * 1000 * _UNITS.get(m.group(2) or "", 1))


def parse_memory(text: Any) -> int:
    """A Kubernetes memory quantity (``2Gi``, ``512M``, ``1e9``) in bytes (0 if unreadable)."""
    m = _QUANTITY.fullmatch(str(text).strip())
    if m is None:
        return 0
    if m.group(2) == "m":
        return int(float(m.group(1)) / 1000)
    return int(float(m.group(1)) * _UNITS.get(m.group(2) or "", 1))


def _containers(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    out = [tmpl[k] for k in ("container", "script") if k in tmpl]
    out += (tmpl.get("containerSet") or {}).get("containers") or []
    return out + list(tmpl.get("sidecars") or [])


def requests(tmpl: dict[str, Any]) -> tuple[int, int]:
    """The CPU (millicores) and memory (bytes) a pod of ``tmpl`` requests."""
    cpu = memory = 0
    for c in _containers(tmpl):
        asked = (c.get("resources") or {}).get("requests") or {}
        cpu += parse_cpu(asked.get("cpu", 0))
        memory += parse_memory(asked.get("memory", 0))
    if not cpu and runs_nbflow(tmpl):
        cpu = NOTEBOOK_CPU_M
    return cpu, memory


def _machine_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0  # unknown: memory requests are not checked


@dataclass(frozen=True)
class Capacity:
    """What the machine offers pods: millicores (``None``: unlimited), bytes, processes."""

    cpu_m: int | None = None
    memory: int = 0
    pods: int | None = None

    @classmethod
    def of_machine(cls, cores: int, max_pods: int) -> Capacity:
        """``cores`` cores, this machine's memory, at most ``max_pods`` pods."""
        return cls(cores * 1000, _machine_memory(), max_pods)


@dataclass
class Usage:
    """What the running pods take; :meth:`admit` decides whether one more fits."""

    capacity: Capacity
    pods: int = 0
    cpu_m: int = 0
    memory: int = 0
    with_requests: int = field(default=0)

    def admit(self, cpu_m: int, memory: int) -> bool:
        """Take a pod's requests if they fit (or if no pod with requests runs)."""
        cap = self.capacity
        if cap.pods is not None and self.pods >= cap.pods:
            return False
        alone = self.with_requests == 0
        if cpu_m and cap.cpu_m is not None and self.cpu_m + cpu_m > cap.cpu_m and not alone:
            return False
        if memory and cap.memory and self.memory + memory > cap.memory and not alone:
            return False
        self.add(cpu_m, memory)
        return True

    def add(self, cpu_m: int, memory: int) -> None:
        """Count a running pod."""
        self.pods += 1
        self.cpu_m += cpu_m
        self.memory += memory
        self.with_requests += 1 if cpu_m or memory else 0


def start_pods(op: Operator) -> list[PodRequest]:
    """Start the pending pods that may start now: within ``spec.parallelism``, holding their
    locks, and fitting what the machine has left."""
    from .calls import pod_request
    from .nodes import timestamp

    if op.done:
        return []
    runs = (NodeType.POD, NodeType.HTTP)
    usage = Usage(op.capacity)
    # a template's requests, parsed once here rather than for each of its pods
    requests_of = functools.cache(lambda name: requests(op.templates[name]))
    for n in op.nodes.values():
        if n["type"] in runs and n["phase"] == "Running":
            usage.add(*requests_of(n["templateName"]))
    running = usage.pods
    out = []
    for node in list(op.nodes.values()):
        if node["type"] not in runs or node["phase"] != "Pending":
            continue
        if op.parallelism and running >= int(op.parallelism):
            break
        tmpl = op.templates[node["templateName"]]
        try:
            if not hold(op, tmpl.get("synchronization"), node["id"], node):
                continue  # waiting for a lock: it does not count against parallelism
            node["nbflowLocks"] = bool(tmpl.get("synchronization"))
            if not usage.admit(*requests_of(node["templateName"])):
                continue  # a pod that does not fit now; a smaller one after it may
            request = pod_request(op, node)
        except ManifestError as exc:  # e.g. a tag of the template that cannot be resolved
            op.mark(node, Phase.ERROR, exc.message)
            continue
        running += 1
        op.mark(node, Phase.RUNNING)
        node["startedAt"] = timestamp(op.now)
        out.append(request)
    return out
