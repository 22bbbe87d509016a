"""The local engine's scheduler: a pure state machine over a Workflow and its ``status.nodes``.

Like Argo's controller, :meth:`Operator.reconcile` walks the template tree from the entry node on
every call, creates the nodes that became possible, and returns the pods to start; workers report
back through :meth:`Operator.pod_finished`. No I/O, no clock: callers pass ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..errors import ManifestError
from ..model.values import parse_duration
from ..vocab import COMPLETED, FAILED, SCHEDULED_TIME_ANNOTATION, NodeType, Phase
from .calls import bind_inputs, pod_request
from .dag import execute_dag
from .hooks import exit_handler_done, workflow_hooks
from .nodes import Node, new_node, node_id, parse_timestamp, timestamp, workflow_phase
from .pod import PodRequest, PodResult
from .retry import execute_retry
from .steps import execute_steps

__all__ = ["Operator"]

_NODE_TYPES = {"dag": NodeType.DAG, "steps": NodeType.STEPS, "suspend": NodeType.SUSPEND}
DEADLINE_EXCEEDED = "Step exceeded its deadline"


class Operator:
    """Drives one workflow run; the workflow dict (with ``status``) is its whole state.

    Parameters
    ----------
    workflow : dict
        An Argo Workflow with ``metadata.name`` set; ``status`` is created or continued.
    max_running : int, optional
        Local cap on running pods, on top of ``spec.parallelism``.
    """

    def __init__(self, workflow: dict[str, Any], *, max_running: int | None = None) -> None:
        self.wf = workflow
        self.name: str = workflow["metadata"]["name"]
        self.spec: dict[str, Any] = workflow["spec"]
        self.templates = {t["name"]: t for t in self.spec.get("templates", [])}
        self.status: dict[str, Any] = workflow.setdefault("status", {})
        self.nodes: dict[str, Node] = self.status.setdefault("nodes", {})
        limits = [n for n in (self.spec.get("parallelism"), max_running) if n]
        self.max_running = min(limits) if limits else None
        self.changed: list[str] = []
        self.plans: dict[str, Any] = {}
        self.memo: dict[str, Any] = {}  # derived values worked out once (never persisted)
        self.now = datetime.min
        self._wake: datetime | None = None

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
        args = self.spec.get("arguments") or {}
        root = self.execute(self.name, self.name, self.spec["entrypoint"], args, None)
        hooks_done = workflow_hooks(self, root)
        if Phase(root["phase"]).fulfilled and hooks_done and exit_handler_done(self, root):
            self._finish(root)
        return self._start_pods()

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
            pending = node["type"] == NodeType.POD and node["phase"] == Phase.PENDING
            if pending and self.halted(node["name"]):
                self.mark(node, Phase.FAILED, self.stop_message)

    def pod_finished(self, node_id_: str, result: PodResult, now: datetime) -> None:
        """Record a pod's end; the next :meth:`reconcile` propagates it."""
        node = self.nodes[node_id_]
        node["outputs"] = result.outputs or node.get("outputs") or {}
        if not node["outputs"]:
            node.pop("outputs")
        if result.memoization is not None:
            node["memoizationStatus"] = result.memoization
        self.mark(node, result.phase, result.message, now)

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
        node["phase"] = phase.value
        if message is not None:
            node["message"] = message
        if phase.fulfilled and "finishedAt" not in node:
            node["finishedAt"] = timestamp(now or self.now)
        if changed:
            self.changed.append(node["id"])

    def wake_at(self, when: datetime) -> None:
        """Ask to be reconciled again at ``when``."""
        if self._wake is None or when < self._wake:
            self._wake = when

    def workflow_scope(self) -> dict[str, str]:
        """``workflow.*`` tags."""
        out = {
            "workflow.name": self.name,
            "workflow.namespace": self.wf["metadata"].get("namespace", "local"),
            "workflow.uid": self.wf["metadata"].get("uid", self.name),
            "workflow.creationTimestamp": self.status.get("startedAt", timestamp(self.now)),
        }
        scheduled = (self.wf["metadata"].get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION)
        if scheduled:  # a run a schedule fired (Argo: only CronWorkflow children have it)
            out["workflow.scheduledTime"] = scheduled
        for p in (self.spec.get("arguments") or {}).get("parameters") or []:
            out[f"workflow.parameters.{p['name']}"] = str(p.get("value", ""))
        if self.status.get("exitStatus"):
            out["workflow.status"] = self.status["exitStatus"]
            out["workflow.failures"] = self.status.get("exitFailures", "[]")
        return out

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
            inputs = bind_inputs(tmpl, args, name)
            type_ = _NODE_TYPES.get(next((k for k in _NODE_TYPES if k in tmpl), ""), NodeType.POD)
            node = self.create(
                name,
                display,
                type_,
                Phase.PENDING if type_ == NodeType.POD else Phase.RUNNING,
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
            self._execute_suspend(node, tmpl)
        elif "container" not in tmpl and "script" not in tmpl:
            raise ManifestError(
                f"template {template!r}: only dag and container templates can run locally"
            )
        return node

    def _execute_suspend(self, node: Node, tmpl: dict[str, Any]) -> None:
        """A suspend node waits (Running) until resumed or until its ``duration`` has passed."""
        if self.halted(node["name"]):
            self.mark(node, Phase.FAILED, self.stop_message)
            return
        duration = (tmpl.get("suspend") or {}).get("duration")
        if duration is None:
            return
        ready = parse_timestamp(node["startedAt"]) + timedelta(
            seconds=parse_duration(str(duration))
        )
        if self.now >= ready:
            self.mark(node, Phase.SUCCEEDED)
        else:
            self.wake_at(ready)

    def suspended(self) -> list[Node]:
        """Suspend nodes waiting to be resumed."""
        return [
            n
            for n in self.nodes.values()
            if n["type"] == NodeType.SUSPEND and n["phase"] == Phase.RUNNING
        ]

    def resume_nodes(self, names: list[str] | None = None) -> list[str]:
        """Resume waiting suspend nodes (all, or those whose name or display name is given)."""
        done = []
        for node in self.suspended():
            if names is None or node["name"] in names or node["displayName"] in names:
                self.mark(node, Phase.SUCCEEDED)
                done.append(node["displayName"])
        return done

    def _start_pods(self) -> list[PodRequest]:
        running = sum(
            1 for n in self.nodes.values() if n["type"] == NodeType.POD and n["phase"] == "Running"
        )
        out = []
        for node in list(self.nodes.values()):
            if node["type"] != NodeType.POD or node["phase"] != "Pending":
                continue
            if self.max_running is not None and running >= self.max_running:
                break
            running += 1
            self.mark(node, Phase.RUNNING)
            node["startedAt"] = timestamp(self.now)
            out.append(pod_request(self, node))
        return out

    # ------------------------------------------------------------------ workflow end

    def _finish(self, root: Node) -> None:
        phase = workflow_phase(root)
        exit_node = self.node(f"{self.name}.onExit")
        if (
            phase == "Succeeded"
            and exit_node is not None
            and exit_node["phase"] in FAILED
        ):
            phase = exit_node["phase"]
        halted = bool(self.shutdown) or (self.deadline_passed and self._cut_short())
        if halted and phase != "Error":
            phase = "Failed"
            root.setdefault("message", self.stop_message)
        self.status["phase"] = phase
        self.status["finishedAt"] = timestamp(self.now)
        message = self.stop_message if halted else root.get("message")
        if message and phase != "Succeeded":
            self.status["message"] = message
        self.changed.append(root["id"])

    def _cut_short(self) -> bool:
        """Whether the deadline ended some node (the run did not simply finish in time)."""
        return any(n.get("message") == DEADLINE_EXCEEDED for n in self.nodes.values())
