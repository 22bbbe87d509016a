"""The live run graph: one anywidget whose JavaScript only draws the state this class computes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..errors import NbflowError
from ..vocab import COMPLETED
from . import layout
from .actions import available_actions, edited_since, perform, retry_note
from .bundle import VIZ_MODULE, widget_css, widget_esm
from .details import last_pod, node_details, notebook_key
from .headless import StaticGraph
from .nbview import render_notebook
from .state import PHASES, Shape, graph_shape, run_info, task_state, tasks_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..engine.run import Run
    from ..model import Workflow

__all__ = ["RunWidget"]

LAYOUT_ENGINES = ("auto", "dot", "browser")


class RunWidget(anywidget.AnyWidget):
    """Interactive graph of a run: phases, retries, mapped tasks, details pane and actions.

    Parameters
    ----------
    run : Run
        A live run (updated as its engine reports changes) or one loaded from the run store.
    layout_engine : {"auto", "dot", "browser"}
        Where the graph is laid out: ``"auto"`` uses the ``dot`` program when it is installed
        and Graphviz compiled to WebAssembly in the browser otherwise.
    rankdir : {"TB", "LR"}
        Top-to-bottom or left-to-right.
    interval_s : float
        Least time between two updates sent to the frontend; changes in between are batched.
    full_sync_s : float
        While a run goes on, every node state is also resent at most this often (and at the
        end), so that a view that missed an update catches up.
    layouts : Path, optional
        Where ``dot`` layouts are kept across processes; default: the home's ``layouts``
        folder, which the Jupyter server fills too (it lays new runs out ahead).
    """

    _esm = widget_esm()
    _css = widget_css()

    info = traitlets.Dict(help="The run: id, phase, message, timing.").tag(sync=True)
    graph = traitlets.Dict(help="Nodes and edges; fixed for a run.").tag(sync=True)
    positions = traitlets.Dict(help="Layout; empty until laid out.").tag(sync=True)
    dot = traitlets.Unicode(help="DOT text, sent when the browser lays out.").tag(sync=True)
    nodes = traitlets.Dict(help="State of every graph node, by id.").tag(sync=True)
    phases = traitlets.Dict(PHASES, help="Icon and word of every phase.").tag(sync=True)
    selected = traitlets.Dict(help="Selected {'task': id, 'node': status node id}.").tag(
        sync=True
    )
    details = traitlets.Dict(help="Details pane of the selection.").tag(sync=True)
    actions = traitlets.List(traitlets.Unicode(), help="Actions offered now.").tag(sync=True)
    notebook_html = traitlets.Unicode(help="Executed notebook shown in the pane.").tag(sync=True)
    notice = traitlets.Unicode(help="Outcome of the last action, if it failed.").tag(sync=True)

    def __init__(
        self,
        run: Run,
        *,
        layout_engine: str = "auto",
        rankdir: str = "TB",
        interval_s: float = 0.15,
        full_sync_s: float = 5.0,
        layouts: Path | None = None,
    ) -> None:
        if layout_engine not in LAYOUT_ENGINES:
            raise NbflowError(f"layout_engine must be one of {', '.join(LAYOUT_ENGINES)}")
        if rankdir not in ("TB", "LR"):
            raise NbflowError("rankdir must be 'TB' or 'LR'")
        super().__init__()
        self.run = run
        self._layouts = layouts if layouts is not None else _home_layouts()
        self._interval_s = interval_s
        self._full_sync_s = full_sync_s
        self._lock = threading.RLock()
        self._dirty: set[str] = set()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        self._last_flush = self._last_full = 0.0
        self._driver: Any = None  # the run driver this widget is subscribed to
        self._unsubscribe: Callable[[], None] | None = None
        self._handle: Any = None
        self._shown_in: Any = None
        self._finished = False
        self._rankdir = rankdir
        self.workflow_source: Callable[[], Workflow] | None = None
        self._set_shape(graph_shape(run.workflow), layout_engine)
        self._attach()
        self.on_msg(self._on_msg)
        self.observe(self._on_select, names="selected")

    # ------------------------------------------------------------------ layout

    def _set_shape(self, shape: Shape, engine: str) -> None:
        self._shape = shape
        self._by_id = {n.id: n for n in shape.nodes}
        self._root_ids = [n.id for n in shape.nodes if n.node_name == self.run.id]
        self._dot = layout.dot_source(shape, self._rankdir)
        self.positions = {}
        self.graph = shape.to_json()
        self._lay_out(engine)

    def _lay_out(self, engine: str) -> None:
        positions = None
        if engine != "browser":
            positions = layout.layout_with_dot(self._dot, self._layouts)
        if positions is None and engine == "dot":
            raise NbflowError("the Graphviz 'dot' program is not installed")
        if positions is not None:
            self.positions = positions
            return
        # No dot here (pip-only install): the browser lays the same DOT text out with Graphviz
        # compiled to WebAssembly, then sends the result back (see _on_msg "layout"). Graphviz
        # comes from the JupyterLab extension's static files, else from a "viz" message.
        self.dot = self._dot

    def _take_layout(self, graph: dict[str, Any]) -> None:
        positions = layout.normalize(graph)
        if set(positions["nodes"]) != set(self._by_id):
            raise NbflowError("the browser's layout does not match the graph")
        layout.remember(self._dot, positions)
        self.positions = positions

    # ------------------------------------------------------------------ live updates

    def _attach(self) -> None:
        """Subscribe to the run's driver (once) and, while the run is live, send its changes;
        load all state."""
        driver = self.run.driver
        if driver is not None and driver is not self._driver:
            self._detach()
            self._driver = driver
            self._unsubscribe = driver.subscribe(self._on_change)
        if self.run.live and (self._flusher is None or not self._flusher.is_alive()):
            self._finished = False
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"nbflow-widget-{self.run.id}", daemon=True
            )
            self._flusher.start()
        with self.run.lock:
            wf = self.run.workflow
            nodes = {n.id: task_state(wf, n) for n in self._shape.nodes}
            info = run_info(wf)
        with self._lock:
            self.nodes = nodes
            self.info = info
            self.actions = self._available_actions()

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._driver = self._unsubscribe = None

    def _on_change(self, workflow: dict[str, Any], changed: list[dict[str, Any]]) -> None:
        """Engine listener, in the engine's thread: note what changed; the flusher sends it."""
        names = [n["name"] for n in changed]
        with self._lock:
            self._dirty |= tasks_of(self.run.id, names)
        self._wake.set()

    def _flush_loop(self) -> None:
        """Send what changed, at most every ``interval_s``, until the run ends (or close)."""
        while not self._closed.is_set() and not self._finished:
            self._wake.wait()
            delay = self._last_flush + self._interval_s - time.monotonic()
            if delay > 0 and self._closed.wait(delay):
                break
            self._wake.clear()
            if not self._closed.is_set():
                self.flush()

    def flush(self) -> dict[str, dict[str, Any]]:
        """Send the states changed since the last flush now; return them."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            self._last_flush = time.monotonic()
        if self.run.id in dirty:
            dirty.update(self._root_ids)
        ids = [i for i in dirty if i in self._by_id]
        with self.run.lock:
            wf = self.run.workflow
            states = {i: task_state(wf, self._by_id[i]) for i in ids}
            info = run_info(wf)
        with self._lock:
            changed = {k: v for k, v in states.items() if self.nodes.get(k) != v}
            # In place, without a trait event: only the changed states go out, as one message.
            self.nodes.update(changed)
            if changed:
                self.send({"type": "patch", "nodes": changed})
        self._after_flush(info, changed)  # not under self._lock: it may take the engine's lock
        return changed

    def _flush_all(self) -> None:
        """Flush every node, not only those the engine's events named, then send the whole
        state once: once a run ended, every view then shows its final record, whatever the
        last events held or when they came."""
        with self._lock:
            self._dirty.update(self._by_id)
        self.flush()
        self.send_state("nodes")

    def _after_flush(self, info: dict[str, Any], changed: dict[str, Any]) -> None:
        if info != self.info:
            self.info = info
            self.actions = self._available_actions()
        now = time.monotonic()
        ended = info["phase"] in COMPLETED and not self._finished
        if changed and (ended or now - self._last_full >= self._full_sync_s):
            self._last_full = now
            self.send_state("nodes")
        if self.selected.get("task") in changed:
            self._on_select()
        if ended:
            self._finished = True
            if self.run.driver is not None:  # listeners run just before the driver is done
                self.run.driver.wait(10)
            self._flush_all()
            self.actions = self._available_actions()
            if self._handle is not None:  # the saved output then holds the final picture
                self._handle.update(self)

    # ------------------------------------------------------------------ frontend requests

    def _on_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type")
        try:
            if kind == "layout":
                self._take_layout(content["graph"])
            elif kind == "action":
                self.act(str(content.get("name")), content.get("task"))
            elif kind == "notebook":
                self.notebook_html = self.render_notebook(str(content.get("node") or ""))
            elif kind == "viz":  # never a trait: it would be saved with the notebook
                self.send({"type": "viz", "esm": VIZ_MODULE.read_text(encoding="utf-8")})
            elif kind == "sync":
                with self._lock:
                    self.send_state(["nodes", "info"])
        except (NbflowError, OSError, ValueError, KeyError, TypeError) as exc:
            self.notice = f"{kind}: {exc}"

    def _on_select(self, _change: Any = None) -> None:
        task = self.selected.get("task")
        if not task:
            self.details = {}
            return
        self.notebook_html = ""
        with self.run.lock:
            try:
                self.details = node_details(self.run, task, self.selected.get("node"))
            except (NbflowError, OSError, ValueError) as exc:
                self.details = {"task": task, "phase": "", "message": f"no details: {exc}"}

    def render_notebook(self, node: str) -> str:
        """HTML of the executed notebook of status node ``node`` (its last attempt)."""
        record = self.run.nodes.get(node)
        pod = last_pod(self.run.nodes, record) if record else None
        key = notebook_key(pod) if pod else None
        if key is None or record is None:
            raise NbflowError(f"node {node!r} has no executed notebook")
        return render_notebook(self.run.store.read_bytes(key), title=record["name"])

    def _available_actions(self) -> list[str]:
        return available_actions(self.run, self.workflow_source is not None)

    def act(self, name: str, task: str | None = None) -> None:
        """Do action ``name`` on the run (see :func:`nbflow.widget.actions.perform`); the widget
        then follows the run as it goes on."""
        if name not in self.actions:
            raise NbflowError(f"action {name!r} is not available now")
        self.notice = ""
        note = ""
        if name == "retry" and self.workflow_source is not None:
            note = retry_note(edited_since(self.run, self.workflow_source()))
        perform(self.run, name, task, self.workflow_source)
        self.follow(self.run)
        self.notice = note

    def follow(self, run: Run) -> None:
        """Show ``run`` from now on (also the same run going on, after an action: a rerun with
        new code may have other tasks)."""
        from . import remember

        remember(run, self)
        self.run = run
        shape = graph_shape(run.workflow)
        if shape != self._shape:
            self._set_shape(shape, "auto")
        self._attach()

    # ------------------------------------------------------------------ display

    def show(self) -> None:
        """Display the widget; its output is refreshed with the final picture when the run ends."""
        from IPython.display import display

        self._handle = display(self, display_id=True)
        self._shown_in = _current_cell()

    def finish(self) -> None:
        """Send the last changes and refresh the displayed output with the final picture.

        For the cell that waited for the run: the refresh then belongs to that cell's
        execution, which papermill and nbconvert record (an update sent later is dropped).
        """
        self._flush_all()
        if self._handle is not None:
            self._handle.update(self)

    def shown_in_current_cell(self) -> bool:
        """Whether :meth:`show` ran during the cell being executed."""
        return self._shown_in is not None and self._shown_in == _current_cell()

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, meta = bundle
        # Without a live kernel (nbconvert, GitHub, VS Code) frontends show this instead.
        data.update(StaticGraph(self.run).bundle())
        return data, meta

    def close(self) -> None:
        """Stop following the run and close the widget."""
        self._detach()
        self._closed.set()
        self._wake.set()
        super().close()


def _current_cell() -> Any:
    """An identity of the cell being executed: the kernel's request id, else the count."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    if ip is None:
        return None
    header = getattr(ip, "parent_header", None) or {}
    return (header.get("header") or {}).get("msg_id") or ip.execution_count


def _home_layouts() -> Path | None:
    """The home's layouts folder (``None`` when the settings cannot be read: memory only)."""
    from ..config import load_config

    try:
        return load_config().layouts_dir
    except NbflowError:
        return None
