"""A fake Argo controller for the Kubernetes API double: it advances ``status.nodes`` of every
running Workflow with nbflow's pure operator, as Argo's controller would, and fakes the pods."""

from __future__ import annotations

import copy
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any


class FakeArgo:
    """A controller: runs every Running Workflow with nbflow's operator and fake pods.

    ``outcomes`` maps a pod's display name (or its task name) to the phases of its attempts;
    pods succeed otherwise. Pods get Argo's v2 names and a one-line log; every status change
    is written back like the controller does (status only).
    """

    def __init__(self, state: Any, outcomes: dict[str, list[str]] | None = None) -> None:
        self.state = state
        self.outcomes = {k: list(v) for k, v in (outcomes or {}).items()}
        self.hold = threading.Event()  # set: pods do not finish (a workflow stays Running)
        self.artifact_dir: Path | None = None  # where executed notebooks are written
        self._ops: dict[str, Any] = {}
        self._written: dict[str, str] = {}  # the status this controller last wrote
        self._running: dict[str, list[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def start(self) -> FakeArgo:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.003):
            with self.state.cond:
                keys = [k for k in self.state.objects if k[0] == "workflows"]
            for _, ns, name in keys:
                self._tick(ns, name)

    def _tick(self, ns: str, name: str) -> None:
        from nbflow.engine.operator import Operator

        with self.state.cond:
            obj = self.state.objects.get(("workflows", ns, name))
            if obj is None or (obj.get("status") or {}).get("phase") in (
                "Succeeded", "Failed", "Error"
            ):
                self._ops.pop(name, None)
                return
            obj = copy.deepcopy(obj)
        op = self._ops.get(name)
        status = json.dumps(obj.get("status") or {}, sort_keys=True)
        if op is None or self._written.get(name) != status:  # new, or retried by a client
            op = self._ops[name] = Operator(obj)
            self._running[name] = []
        op.spec.update(obj["spec"])  # notice spec.shutdown patches
        if "shutdown" not in obj["spec"]:
            op.spec.pop("shutdown", None)
        before = json.dumps(op.status, sort_keys=True)
        self.now += timedelta(seconds=1)
        self._advance(op, name, ns)
        after = json.dumps(op.status, sort_keys=True)
        self._written[name] = after
        if after != before:
            labels = {"workflows.argoproj.io/completed": "true" if op.done else "false"}
            self.state.update_status(ns, name, op.status, labels)

    def _advance(self, op: Any, name: str, ns: str) -> None:
        from nbflow.engine.pod import PodResult
        from nbflow.vocab import Phase

        running = self._running[name]
        self._start(op, name, ns, running)
        if op.shutdown:
            for req in running:
                op.pod_finished(req.node_id, PodResult(Phase.FAILED, op.stop_message), self.now)
            running.clear()
        elif running and not self.hold.is_set():
            req = running.pop(0)
            display = op.nodes[req.node_id]["displayName"]
            queue = self.outcomes.get(display) or self.outcomes.get(display.split("(")[0]) or []
            phase = Phase(queue.pop(0)) if queue else Phase.SUCCEEDED
            outputs = self._outputs(req, phase)
            message = None if phase == Phase.SUCCEEDED else f"{display} failed on purpose"
            op.pod_finished(req.node_id, PodResult(phase, message, outputs), self.now)
        self._start(op, name, ns, running)

    def _start(self, op: Any, name: str, ns: str, running: list[Any]) -> None:
        for req in op.reconcile(self.now):
            node = op.nodes[req.node_id]
            pod = argo_pod_name(name, node["name"], node.get("templateName", ""))
            with self.state.cond:
                self.state.pods[(ns, pod)] = f"{node['displayName']} says hello\n"
            running.append(req)

    def _outputs(self, req: Any, phase: Any) -> dict[str, Any]:
        spec = req.template.get("outputs") or {}
        arts = [{"name": a["name"], "path": a["path"], "s3": {"key": a["s3"]["key"]}}
                for a in spec.get("artifacts") or [] if phase.value == "Succeeded"
                or a["name"] == "nbflow-notebook"]
        if self.artifact_dir is not None:
            for art in arts:
                if art["name"] == "nbflow-notebook":
                    write_notebook(self.artifact_dir / art["s3"]["key"], phase.value)
        params = [{"name": p["name"], "value": "1"} for p in spec.get("parameters") or []]
        return {"artifacts": arts, **({"parameters": params} if params else {})}


def argo_pod_name(workflow: str, node_name: str, template: str) -> str:
    """Argo's POD_NAMES=v2 rule, written independently of nbflow's for the test double."""
    if node_name == workflow:
        return workflow
    hash_ = 2166136261
    for byte in node_name.encode():
        hash_ = ((hash_ ^ byte) * 16777619) % 2**32
    return f"{workflow}-{template}"[:242] + f"-{hash_}"


def write_notebook(path: Path, phase: str) -> None:
    """An executed step notebook; a failed one ends with the error output papermill records."""
    outputs = []
    if phase != "Succeeded":
        outputs = [{"output_type": "error", "ename": "ZeroDivisionError",
                    "evalue": "division by zero", "traceback": ["Traceback", "ZeroDivisionError"]}]
    nb = {"cells": [{"cell_type": "code", "source": "x = 1 / 0", "metadata": {},
                     "execution_count": 1, "outputs": outputs}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
