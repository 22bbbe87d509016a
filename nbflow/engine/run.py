"""The run object: a run's Argo-shaped state, its executed notebooks, errors and outputs."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..argo.manifest import entry_template
from ..artifacts import ArtifactStore
from ..errors import NbflowError
from ..vocab import COMPLETED, EXECUTED_NOTEBOOK, FAILED, NodeType
from .index import recorded_digests, task_of
from .nodes import Node, parse_timestamp, readable_name

if TYPE_CHECKING:
    from .driver import Listener, RunDriver

__all__ = ["Run"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Run:
    """One workflow run: its Argo-shaped state, executed notebooks, errors, logs and outputs.

    A run read from the run store, or one going on, is the same object: its ``driver`` (the
    local engine's, or a cluster watch's; see :mod:`.driver`) keeps ``workflow`` current and
    carries out ``stop``, ``resume``, ``retry`` and ``rerun``. A run without a driver is a
    snapshot and refuses the actions.

    Attributes
    ----------
    id : str
        The run's name, e.g. ``nightly-x7k2p``.
    driver : RunDriver or None
        What drives the run.
    """

    def __init__(
        self,
        workflow: dict[str, Any],
        store: ArtifactStore,
        run_dir: Path,
        driver: RunDriver | None = None,
    ) -> None:
        self._workflow = workflow
        self.id: str = workflow["metadata"]["name"]
        self.store = store
        self.run_dir = run_dir
        self.driver = driver
        self.allow_pickle: bool | None = None  # c.NbflowConfig.allow_pickle (None: default)
        self._downloads: Path | None = None

    # ------------------------------------------------------------------ state

    @property
    def workflow(self) -> dict[str, Any]:
        """The Workflow object: spec, and status in Argo's shape."""
        return self.driver.workflow if self.driver is not None else self._workflow

    @property
    def phase(self) -> str:
        """Workflow phase: Running, Succeeded, Failed or Error."""
        return self.workflow.get("status", {}).get("phase", "Pending")

    @property
    def nodes(self) -> dict[str, Node]:
        """``status.nodes``, keyed by node id."""
        return self.workflow.get("status", {}).get("nodes", {})

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.phase in COMPLETED

    @property
    def live(self) -> bool:
        """Whether this process is driving the run right now."""
        return self.driver is not None and self.driver.live

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Hold it while reading ``workflow`` of a live run (its driver changes it)."""
        return self.driver.lock if self.driver is not None else nullcontext()

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run ends here (or ``timeout`` seconds pass); return ``self``."""
        if self.driver is not None:
            self.driver.wait(timeout)
        return self

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(workflow, changed_nodes)`` after every change of the run; return
        the function that unsubscribes it."""
        return self._driver().subscribe(listener)

    # ------------------------------------------------------------------ actions

    def _driver(self) -> RunDriver:
        if self.driver is None:
            raise NbflowError(f"run {self.id} is a snapshot: open it with nbflow.api.get_run")
        return self.driver

    def stop(self, strategy: str = "Stop") -> None:
        """Stop the run like ``argo stop`` (exit handlers run; ``"Terminate"``: they don't).

        Running steps are killed and the run ends Failed; ``resume`` can go on with it. A run
        that another process drives is asked to stop.
        """
        self._driver().stop(strategy)

    def resume(self, nodes: list[str] | None = None) -> list[str]:
        """Resume suspended nodes (all, or those named) and go on with a stopped or crashed run;
        return the suspended nodes resumed."""
        return self._driver().resume(nodes)

    def retry(self) -> Run:
        """Run the failed steps of an ended run again (succeeded ones keep their results)."""
        self._driver().retry()
        return self

    def rerun(self, task: str, manifest: dict[str, Any]) -> Run:
        """Rerun ``task`` and everything downstream with ``manifest`` (the workflow compiled
        anew); every other task keeps its results."""
        self._driver().rerun(task, manifest)
        return self

    def task_nodes(self) -> dict[str, Node]:
        """Nodes of the entry template's tasks or steps (and ``onExit``), by name, in order."""
        entry = entry_template(self.workflow)
        by_name = {n["name"]: n for n in self.nodes.values()}
        if entry.get("dag"):
            from ..argo.nesting import task_nodes

            nested = task_nodes(self.workflow)
            if f"{self.id}.onExit" in by_name:
                nested["onExit"] = by_name[f"{self.id}.onExit"]
            return nested
        names = [
            (t["name"], f"{self.id}.{t['name']}")
            for t in (entry.get("dag") or {}).get("tasks") or []
        ]
        for i, group in enumerate(entry.get("steps") or []):
            names += [(s["name"], f"{self.id}[{i}].{s['name']}") for s in group]
        names.append(("onExit", f"{self.id}.onExit"))
        out = {short: by_name[full] for short, full in names if full in by_name}
        for short, full in names:  # expanded steps have no node of their own: group their items
            if short not in out:
                kids = [n for n in self.nodes.values() if n["name"].startswith(full + "(")]
                if kids:
                    out[short] = {
                        "id": full,
                        "name": full,
                        "displayName": short,
                        "type": NodeType.TASK_GROUP,
                        "phase": _group_phase(kids),
                        "children": [k["id"] for k in kids],
                    }
        return out

    def tasks(self) -> dict[str, str]:
        """Phase of every task that has a node, by task name."""
        return {name: node["phase"] for name, node in self.task_nodes().items()}

    def pods(self, task: str) -> list[Node]:
        """The pod nodes of ``task``: every attempt of every item, in creation order."""
        node = self._task(task)
        out: list[Node] = []
        stack = [node]
        while stack:
            n = stack.pop(0)
            if n["type"] == NodeType.POD:
                out.append(n)
            if n["type"] in (NodeType.TASK_GROUP, NodeType.RETRY):
                stack = [self.nodes[k] for k in n.get("children") or []] + stack
            elif n["type"] == NodeType.DAG:
                stack = [m for m in self.nodes.values() if m.get("boundaryID") == n["id"]] + stack
        return out

    def _task(self, task: str) -> Node:
        nodes = self.task_nodes()
        if task not in nodes:
            raise NbflowError(
                f"run {self.id} has no task {task!r} (tasks: {', '.join(sorted(nodes)) or 'none'})"
            )
        return nodes[task]

    # ------------------------------------------------------------------ notebooks and errors

    def notebooks(self, task: str) -> list[str]:
        """Executed notebooks of every attempt of ``task`` (local paths, or URLs)."""
        out = []
        for pod in self.pods(task):
            key = _artifact_key(pod, EXECUTED_NOTEBOOK)
            if key:
                local = self.store.local_path(key)
                out.append(str(local) if local is not None else self.store.url(key))
        return out

    def notebook(self, task: str) -> str | None:
        """The executed notebook of the last attempt of ``task``."""
        paths = self.notebooks(task)
        return paths[-1] if paths else None

    def error(self, task: str) -> dict[str, Any] | None:
        """The error of the last failed attempt of ``task``: ``ename``, ``evalue``, ``traceback``,
        ``cell`` (index in the step notebook) and ``notebook``; ``None`` if no cell failed."""
        for pod in reversed(self.pods(task)):
            if pod["phase"] not in FAILED:
                continue
            key = _artifact_key(pod, EXECUTED_NOTEBOOK)
            found = _notebook_error(self.store.read_bytes(key)) if key else None
            if found:
                local = self.store.local_path(key) if key else None
                found["notebook"] = str(local) if local is not None else self.store.url(key or "")
                return found
        return None

    def failures(self) -> list[dict[str, Any]]:
        """One entry per failed task: name, phase, message, and the error of its notebook."""
        out = []
        for name, node in self.task_nodes().items():
            if node["phase"] in FAILED:
                entry = {"task": name, "phase": node["phase"], "message": node.get("message", "")}
                entry.update(self.error(name) or {"notebook": self.notebook(name)})
                out.append(entry)
        return out

    def logs(self, task: str) -> str:
        """Logs of every attempt of ``task``, each under a header line."""
        parts = []
        for pod in self.pods(task):
            path = self.run_dir / "logs" / f"{pod['id']}.log"
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
            parts.append(f"==> {readable_name(pod['displayName'])} ({pod['phase']}) <==\n{text}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ outputs

    def outputs(self, task: str) -> dict[str, Any]:
        """Load the outputs of ``task`` into Python; a mapped task gives lists in item order.

        Each output is checked against the digest its step recorded in the run's state before
        it is loaded.

        Raises
        ------
        IntegrityError
            An output is gone, or differs from what its step recorded (one line naming the
            task, the key and what differed).
        """
        node = self._task(task)
        items = (
            [self.nodes[k] for k in node.get("children") or []]
            if node["type"] == NodeType.TASK_GROUP
            else None
        )
        pods = [self._last_pod(i) for i in items] if items is not None else [self._last_pod(node)]
        values: dict[str, list[Any]] = {}
        for pod in pods:
            digests = recorded_digests(pod.get("outputs") or {})
            for art in (pod.get("outputs") or {}).get("artifacts") or []:
                if art["name"] != EXECUTED_NOTEBOOK:
                    value = self._load(art["name"], art["s3"]["key"], digests, pod)
                    values.setdefault(art["name"], []).append(value)
        if items is None:
            return {k: v[0] for k, v in values.items()}
        return values

    def _last_pod(self, node: Node) -> Node:
        while node["type"] == NodeType.RETRY and node.get("children"):
            node = self.nodes[node["children"][-1]]
        return node

    def _load(self, name: str, key: str, digests: dict[str, str], pod: Node) -> Any:
        """The value of output ``name`` of ``pod``, read only as its step recorded it."""
        from ..digest import check_artifact
        from ..errors import IntegrityError
        from ..marshal import load
        from ..storage_errors import ArtifactNotFound

        what = f"output {name!r} of task {task_of(pod.get('name') or '')!r} ({key})"
        if name not in digests:
            raise IntegrityError(f"{what} has no recorded digest: it cannot be checked")
        try:
            path = self._fetch(key)
        except ArtifactNotFound:
            raise IntegrityError(f"{what} is missing") from None
        check_artifact(path, digests[name], what)
        return load(path, digest=digests[name], verified=True, allow_pickle=self.allow_pickle)

    def _fetch(self, key: str) -> Path:
        """A local copy of ``key``: the file itself in a local store, else one download kept
        for the life of this run object (removed with it)."""
        local = self.store.local_path(key)
        if local is not None:
            return local
        if self._downloads is None:
            self._downloads = Path(tempfile.mkdtemp(prefix="nbflow-"))
            weakref.finalize(self, shutil.rmtree, self._downloads, True)
        target = self._downloads / key.strip("/")
        self.store.download(key, target)  # afresh: a copy kept from before proves nothing
        return target

    # ------------------------------------------------------------------ display

    def report(self) -> str:
        """The summary, then one line per failed task with its error and executed notebook."""
        lines = [self.summary()]
        for failure in self.failures():
            ename = failure.get("ename")
            what = f"{ename}: {failure['evalue']}" if ename else failure["message"]
            lines.append(f"  {failure['task']} failed: {what}")
            if failure.get("notebook"):
                lines.append(f"    executed notebook: {failure['notebook']}")
        return "\n".join(lines)

    def summary(self) -> str:
        """A plain-text table of the run's tasks."""
        message = (self.workflow.get("status") or {}).get("message")
        lines = [f"run {self.id}: {self.phase}" + (f" ({message})" if message else "")]
        for name, node in self.task_nodes().items():
            attempts = len(node.get("children") or []) if node["type"] == NodeType.RETRY else None
            extra = f"  attempts {attempts}" if attempts and attempts > 1 else ""
            msg = f"  {node['message']}" if node.get("message") else ""
            lines.append(f"  {name:<28} {node['phase']:<10} {_duration(node)}{extra}{msg}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.phase}: {json.dumps(self.tasks())}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())


def _group_phase(nodes: list[Node]) -> str:
    phases = [n["phase"] for n in nodes]
    for phase in ("Running", "Pending", "Error", "Failed"):
        if phase in phases:
            return phase
    return "Succeeded"


def _artifact_key(pod: Node, name: str) -> str | None:
    for art in (pod.get("outputs") or {}).get("artifacts") or []:
        if art["name"] == name:
            return art["s3"]["key"]
    return None


def _notebook_error(data: bytes) -> dict[str, Any] | None:
    nb = json.loads(data)
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs") or []:
            if out.get("output_type") == "error":
                tb = "\n".join(_ANSI.sub("", line) for line in out.get("traceback") or [])
                return {
                    "ename": out.get("ename"),
                    "evalue": out.get("evalue"),
                    "traceback": tb,
                    # the number the traceback shows ("Cell In[4]"), as the runner's message
                    "cell": cell.get("execution_count") or index,
                }
    return None


def _duration(node: Node) -> str:
    if "startedAt" not in node or "finishedAt" not in node:
        return "      "
    seconds = (
        parse_timestamp(node["finishedAt"]) - parse_timestamp(node["startedAt"])
    ).total_seconds()
    return f"{seconds:5.0f}s"
