"""The local engine's scheduler: a pure state machine over a Workflow and its ``status.nodes``.

Like Argo's controller, :meth:`Operator.reconcile` walks the template tree from the entry node on
every call, creates the nodes that became possible, and returns the pods to start; workers report
back through :meth:`Operator.pod_finished`. No I/O, no clock: callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..errors import ManifestError
from ..vocab import COMPLETED, NodeType, Phase
from . import metrics
from .calls import bind_inputs
from .dag import execute_dag
from .ending import DEADLINE_EXCEEDED, finish
from .hooks import exit_handler_done, workflow_hooks
from .nodes import Node, new_node, node_id, parse_timestamp, timestamp
from .placement import Capacity, start_pods
from .pod import PodRequest, PodResult
from .retry import execute_retry
from .steps import execute_steps
from .suspend import execute_suspend, resume_nodes, suspended
from .sync import Locks, MemoryLocks, hold

_NODE_TYPES = {
    "dag": NodeType.DAG,
    "steps": NodeType.STEPS,
    "suspend": NodeType.SUSPEND,
    "http": NodeType.HTTP,
}
_RUNS = (NodeType.POD, NodeType.HTTP)  # nodes a worker runs
__all__ = ["Operator", "DEADLINE_EXCEEDED"]


class Operator:
    """Drives one workflow run; the workflow dict (with ``status``) is its whole state.

    Parameters
    ----------
    workflow : dict
        An Argo Workflow with ``metadata.name`` set; ``status`` is created or continued.
    max_running : int, optional
        Local cap on running pods, on top of ``spec.parallelism`` (when no ``capacity``).
    capacity : Capacity, optional
        What the machine offers pods (cores, memory, processes; :mod:`.placement`).
    locks : Locks, optional
        Where ``synchronization`` mutexes and semaphores are held (default: this object).
    semaphore_size : callable, optional
        A semaphore's ``configMapKeyRef`` -> its size (default: 1).
    """

    def __init__(
        self,
        workflow: dict[str, Any],
        *,
        max_running: int | None = None,
        capacity: Capacity | None = None,
        locks: Locks | None = None,
        semaphore_size: Callable[[dict[str, Any]], int] | None = None,
    ) -> None:
        self.wf = workflow
        self.name: str = workflow["metadata"]["name"]
        self.spec: dict[str, Any] = workflow["spec"]
        self.templates = {t["name"]: t for t in self.spec.get("templates", [])}
        self.status: dict[str, Any] = workflow.setdefault("status", {})
        self.nodes: dict[str, Node] = self.status.setdefault("nodes", {})
        self.capacity = capacity if capacity is not None else Capacity(pods=max_running)
        self.parallelism: int | None = self.spec.get("parallelism")
        self.locks: Locks = locks if locks is not None else MemoryLocks()
        self.semaphore_size = semaphore_size or (lambda ref: 1)
        self._metrics = bool(self.spec.get("metrics")) or any(
            t.get("metrics") for t in self.templates.values()
        )
        self._realtime = metrics.has_realtime(self.spec)
        self.changed: list[str] = []
        self.kills: list[str] = []  # daemon pods whose scope ended: the engine ends them
        self.plans: dict[str, Any] = {}
        self.memo: dict[str, Any] = {}  # derived values worked out once (never persisted)
        self.now = datetime.min
        self._wake: datetime | None = None
        self._wf_vars: tuple[Any, dict[str, str]] | None = None  # workflow.* at one instant

    # ------------------------------------------------------------------ public surface

    @property
    def phase(self) -> str:
        """The workflow phase (``""`` before the first reconcile)."""
        return self.status.get("phase", "")

    @property
    def done(self) -> bool:
        """True once the workflow phase is final."""
        return self.phase in COMPLETED

    @property
    def wakeup(self) -> datetime | None:
        """When to reconcile again even if no pod finishes (a backoff ends)."""
        return self._wake

    def reconcile(self, now: datetime) -> list[PodRequest]:
        """Advance the run as far as possible at ``now``; return the pods to start."""
        self.now, self._wake = now, None
        if self.done:
            return []
        if not self.phase:
            self.status.update(phase="Running", startedAt=timestamp(now))
        deadline = self.deadline
        if deadline is not None and not self.deadline_passed:
            self.wake_at(deadline)
        if self.shutdown or self.deadline_passed:
            self._stop_pending()
        if not hold(self, self.spec.get("synchronization"), self.name, self.status):
            self.status["phase"] = Phase.PENDING.value  # a workflow waits for its locks
            return []
        if self.status["phase"] == Phase.PENDING:
            self.status["phase"] = Phase.RUNNING.value
        args = self.spec.get("arguments") or {}
        root = self.execute(self.name, self.name, self.spec["entrypoint"], args, None)
        hooks_done = workflow_hooks(self, root)
        if Phase(root["phase"]).fulfilled and hooks_done and exit_handler_done(self, root):
            finish(self, root)
        if self._realtime:
            metrics.realtime(self)
        return start_pods(self)

    @property
    def shutdown(self) -> str | None:
        """``spec.shutdown``: ``"Stop"`` (exit handlers still run) or ``"Terminate"``."""
        return self.spec.get("shutdown")

    @property
    def deadline(self) -> datetime | None:
        """When ``spec.activeDeadlineSeconds`` ends the run (from its start, in whole seconds)."""
        seconds = self.spec.get("activeDeadlineSeconds")
        if seconds is None or "startedAt" not in self.status:
            return None
        return parse_timestamp(self.status["startedAt"]) + timedelta(seconds=int(seconds))

    @property
    def deadline_passed(self) -> bool:
        """Whether the workflow's deadline has passed (at the last reconcile's ``now``)."""
        deadline = self.deadline
        return deadline is not None and self.now >= deadline

    @property
    def stop_message(self) -> str:
        """The message of nodes a shutdown or the workflow deadline ended, as Argo writes it."""
        if self.shutdown:
            return f"Stopped with strategy '{self.shutdown}'"
        return DEADLINE_EXCEEDED

    def halted(self, name: str) -> bool:
        """Whether a shutdown or the deadline forbids starting anything under node ``name``.

        Exit handlers are exempt, except under ``Terminate``.
        """
        if not self.shutdown and not self.deadline_passed:
            return False
        exit_name = f"{self.name}.onExit"
        in_exit = name == exit_name or name.startswith(exit_name + ".")
        return self.shutdown == "Terminate" or not in_exit

    def _stop_pending(self) -> None:
        for node in self.nodes.values():
            pending = node["type"] in _RUNS and node["phase"] == Phase.PENDING
            if pending and self.halted(node["name"]):
                self.mark(node, Phase.FAILED, self.stop_message)

    def pod_finished(self, node_id_: str, result: PodResult, now: datetime) -> None:
        """Record a pod's end; the next :meth:`reconcile` propagates it."""
        from .outputs import export_globals

        node = self.nodes[node_id_]
        if Phase(node["phase"]).fulfilled:
            return  # ended already (a daemon its scope killed, a node a deadline ended)
        if self.templates[node["templateName"]].get("daemon") and result.phase == Phase.SUCCEEDED:
            result = PodResult(Phase.FAILED, "the daemon exited", result.outputs)
        node.pop("daemoned", None)
        node["outputs"] = result.outputs or node.get("outputs") or {}
        containers = node["outputs"].pop("nbflowContainers", None)
        if not node["outputs"]:
            node.pop("outputs")
        if result.memoization is not None:
            node["memoizationStatus"] = result.memoization
        self.mark(node, result.phase, result.message, now)
        if containers:
            from .containers import container_nodes

            container_nodes(self, node, containers)
        if result.phase == Phase.SUCCEEDED:
            export_globals(self, node, self.templates[node["templateName"]])

    # ------------------------------------------------------------------ node helpers

    def node(self, name: str) -> Node | None:
        """The node called ``name``, if created."""
        return self.nodes.get(node_id(self.name, name))

    def create(
        self,
        name: str,
        display: str,
        type_: str,
        phase: Phase,
        *,
        template: str | None = None,
        boundary: str | None = None,
        message: str | None = None,
    ) -> Node:
        """Create and register a node."""
        node = new_node(
            self.name,
            name,
            display,
            type_,
            phase,
            self.now,
            template=template,
            boundary=boundary,
            message=message,
        )
        self.nodes[node["id"]] = node
        self.changed.append(node["id"])
        return node

    def mark(
        self, node: Node, phase: Phase, message: str | None = None, now: datetime | None = None
    ) -> None:
        """Set a node's phase (and ``finishedAt`` when fulfilled)."""
        changed = node["phase"] != phase.value or (
            message is not None and node.get("message") != message
        )
        ended = phase.fulfilled and not Phase(node["phase"]).fulfilled
        node["phase"] = phase.value
        if message is not None:
            node["message"] = message
        if phase.fulfilled and "finishedAt" not in node:
            node["finishedAt"] = timestamp(now or self.now)
        if changed:
            self.changed.append(node["id"])
        if phase.fulfilled and node["type"] in (NodeType.STEPS, NodeType.DAG):
            self.kill_daemons(node["id"])
        if phase.fulfilled and node.get("nbflowLocks"):
            node.pop("nbflowLocks")
            self.locks.release(node["id"])
        if ended and self._metrics and node["type"] != NodeType.SKIPPED:
            metrics.node_ended(self, node)

    def pod_ready(self, node_id_: str, ip: str) -> None:
        """A daemon pod is up: its node becomes ``daemoned`` (steps after it may start)."""
        node = self.nodes[node_id_]
        if Phase(node["phase"]).fulfilled:
            return
        node["daemoned"] = True
        node["podIP"] = ip
        self.changed.append(node["id"])

    def kill_daemons(self, boundary: str | None) -> None:
        """End the daemons of a scope that ended (all of them for ``None``): their nodes
        succeed, and the engine stops their pods (``killDaemonedChildren``)."""
        for node in self.nodes.values():
            if node.get("daemoned") and (boundary is None or node.get("boundaryID") == boundary):
                node.pop("daemoned")
                self.mark(node, Phase.SUCCEEDED)
                if node["type"] in _RUNS:
                    self.kills.append(node["id"])

    def wake_at(self, when: datetime) -> None:
        """Ask to be reconciled again at ``when``."""
        if self._wake is None or when < self._wake:
            self._wake = when

    def workflow_scope(self) -> dict[str, str]:
        """``workflow.*`` tags (:mod:`.variables`)."""
        from .variables import workflow_variables

        outputs = (self.status.get("outputs") or {}).get("parameters") or []
        key = (self.now, self.status.get("exitStatus"), len(outputs))
        if self._wf_vars is None or self._wf_vars[0] != key:
            self._wf_vars = (key, workflow_variables(self))
        return dict(self._wf_vars[1])

    # ------------------------------------------------------------------ templates

    def execute(
        self,
        name: str,
        display: str,
        template: str,
        args: dict[str, Any],
        boundary: str | None,
        *,
        attempt: bool = False,
    ) -> Node:
        """Argo's ``executeTemplate``: create or advance the node ``name`` running ``template``."""
        tmpl = self.templates.get(template)
        if tmpl is None:
            raise ManifestError(f"template {template!r} is not defined")
        node = self.node(name)
        if node is not None and Phase(node["phase"]).fulfilled:
            return node
        if "retryStrategy" in tmpl and not attempt:
            return execute_retry(self, node, name, display, tmpl, args, boundary)
        if node is None:
            inputs = bind_inputs(tmpl, args, name, self.workflow_scope())
            type_ = _NODE_TYPES.get(next((k for k in _NODE_TYPES if k in tmpl), ""), NodeType.POD)
            node = self.create(
                name,
                display,
                type_,
                Phase.PENDING if type_ in _RUNS else Phase.RUNNING,
                template=template,
                boundary=boundary,
            )
            if attempt:
                node["nodeFlag"] = {"retried": True}
            if inputs:
                node["inputs"] = inputs
        if "dag" in tmpl:
            execute_dag(self, node, tmpl)
        elif "steps" in tmpl:
            execute_steps(self, node, tmpl)
        elif "suspend" in tmpl:
            execute_suspend(self, node, tmpl)
        elif not any(k in tmpl for k in ("container", "script", "containerSet", "http")):
            raise ManifestError(f"template {template!r}: this kind of template cannot run locally")
        return node

    def settle(self, message: str) -> list[str]:
        """End every node that is not fulfilled as ``Error`` with ``message`` (the run is over:
        nothing may stay Running or Pending in its final record); return their ids."""
        ended = []
        for node in self.nodes.values():
            if not Phase(node["phase"]).fulfilled:
                self.mark(node, Phase.ERROR, node.get("message") or message)
                ended.append(node["id"])
        return ended

    def suspended(self) -> list[Node]:
        """Suspend nodes waiting to be resumed."""
        return suspended(self)

    def resume_nodes(self, names: list[str] | None = None) -> list[str]:
        """Resume waiting suspend nodes (all, or those whose name or display name is given)."""
        return resume_nodes(self, names)
