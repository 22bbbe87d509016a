"""The run graph widget on large runs: layout, first render, and the update rate it sustains.

    python benchmarks/widget.py

Python side: a 1,000-task DAG and a 10,000-item map; the cost of the engine listener and of the
batched flush per phase change, against a baseline measured in the same run (serialising the
run state to JSON, which the engine's run store does after every change anyway).
Browser side (Debian's Chromium through Playwright, on a page served from 127.0.0.1): the
widget's own JavaScript with a stand-in for the anywidget model; time to first render (laid out
by ``dot`` in the kernel, and by Graphviz/WebAssembly in the page) and the rate at which it
applies 1,000 single-node updates.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nbflow.engine.nodes import node_id  # noqa: E402
from nbflow.widget import layout  # noqa: E402
from nbflow.widget.state import graph_shape, task_states  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T0 = "2026-01-01T00:00:00Z"


def big_dag(n_tasks: int, seed: int = 7) -> dict[str, Any]:
    """A run of ``n_tasks`` tasks, each depending on 1-2 of the 30 before it; nothing ran yet."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n_tasks):
        deps = rng.sample(range(max(0, i - 30), i), min(i, rng.randint(1, 2))) if i else []
        task: dict[str, Any] = {"name": f"t{i}", "template": "step"}
        if deps:
            task["depends"] = " && ".join(f"t{d}" for d in deps)
        tasks.append(task)
    return _workflow("big-bench", tasks)


def big_map(n_items: int) -> dict[str, Any]:
    """extract >> score.map(n_items) >> report, with every item node created (Pending)."""
    tasks = [
        {"name": "extract", "template": "step"},
        {"name": "score", "template": "step", "depends": "extract", "withItems": list(range(3))},
        {"name": "report", "template": "step", "depends": "score"},
    ]
    wf = _workflow("map-bench", tasks)
    nodes = wf["status"]["nodes"]
    kids = [_node(wf, f"score({i}:{i})", "Pod", "Pending") for i in range(n_items)]
    group = _node(wf, "score", "TaskGroup", "Running", children=[k["id"] for k in kids])
    for n in (group, *kids):
        nodes[n["id"]] = n
    return wf


def _workflow(name: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    templates = [{"name": "main", "dag": {"tasks": tasks}}, {"name": "step", "container": {}}]
    return {
        "metadata": {"name": name},
        "spec": {"entrypoint": "main", "templates": templates},
        "status": {"phase": "Running", "startedAt": T0, "nodes": {}},
    }


def _node(wf: dict[str, Any], name: str, type_: str, phase: str, **extra: Any) -> dict[str, Any]:
    run = wf["metadata"]["name"]
    full = f"{run}.{name}"
    return {"id": node_id(run, full), "name": full, "displayName": name, "type": type_,
            "phase": phase, "startedAt": T0, **extra}


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


class _FakeRun:
    """Enough of a run for the widget: a workflow and no engine."""

    def __init__(self, wf: dict[str, Any]) -> None:
        self.workflow = wf
        self.id = wf["metadata"]["name"]
        self.phase = "Running"
        self.done = False
        self.live = False
        self.nodes = wf["status"]["nodes"]
        self.run_dir = Path(tempfile.gettempdir())
        self.driver = None
        self.lock = contextlib.nullcontext()

    def summary(self) -> str:
        return self.id


def python_side(wf: dict[str, Any], changes: list[tuple[str, str]], batch: int) -> dict[str, Any]:
    """Costs in the kernel: layout, the widget's first state, and per phase change.

    ``changes`` are (node name without the run prefix, new phase); ``batch`` changes are sent
    per flush. The baseline is what the engine itself does per batch: serialise the workflow
    (its run store rewrites workflow.json after every batch of changes).
    """
    from nbflow.widget.widget import RunWidget

    shape = graph_shape(wf)
    layout._cache.clear()
    t_dot, laid = timed(layout.layout_with_dot, layout.dot_source(shape))
    run = _FakeRun(wf)
    t_widget, widget = timed(functools.partial(RunWidget, run, interval_s=3600, full_sync_s=1e9))
    sent: list[int] = []
    widget.send = lambda content, buffers=None: sent.append(len(json.dumps(content)))
    nodes = wf["status"]["nodes"]
    listener_s = flush_s = baseline_s = 0.0
    for i, (name, phase) in enumerate(changes, 1):
        node = nodes.get(node_id(run.id, f"{run.id}.{name}")) or _node(wf, name, "Pod", phase)
        node["phase"] = phase
        nodes[node["id"]] = node
        t, _ = timed(widget._on_change, wf, [node])
        listener_s += t
        if i % batch == 0 or i == len(changes):
            t, _ = timed(widget.flush)
            flush_s += t
            t, _ = timed(json.dumps, wf)
            baseline_s += t
    widget.close()
    n = len(changes)
    return {
        "tasks": len(shape.nodes),
        "dot_layout_s": t_dot,
        "widget_init_s": t_widget,
        "listener_us": listener_s / n * 1e6,
        "flush_us": flush_s / n * 1e6,
        "baseline_us": baseline_s / n * 1e6,
        "messages": len(sent),
        "mean_message_bytes": statistics.mean(sent) if sent else 0,
    }


# ------------------------------------------------------------------ browser side

HARNESS = """<!doctype html><meta charset="utf-8"><link rel="stylesheet" href="widget.css">
<div id="root" style="width:1200px"></div>
<script type="module">
import widget from "./widget.js";
const state = await (await fetch("state.json")).json();
const patches = await (await fetch("patches.json")).json();
const handlers = {};
const model = {
  get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes() {},
  send(msg) {  // as the kernel does: Graphviz/WebAssembly in a message, when asked
    if (msg.type !== "viz") return;
    fetch("viz.mjs").then((r) => r.text()).then((esm) => emit("msg:custom", { type: "viz", esm }));
  },
  on(ev, fn) { (handlers[ev] ||= []).push(fn); }, off() {},
};
const emit = (ev, ...a) => (handlers[ev] || []).forEach((fn) => fn(...a));
const el = document.getElementById("root");
const t0 = performance.now();
widget.initialize({ model });
widget.render({ model, el });
const nodes = () => el.querySelectorAll("g.nbflow-node").length;
while (!nodes()) await new Promise((r) => setTimeout(r, 5));
el.getBoundingClientRect();
await new Promise((r) => requestAnimationFrame(() => r()));
const firstRender = performance.now() - t0;
let t1 = performance.now();
for (const p of patches) emit("msg:custom", { type: "patch", nodes: p });
await new Promise((r) => requestAnimationFrame(() => r()));
const batched = performance.now() - t1;
t1 = performance.now();
for (const p of patches) {
  emit("msg:custom", { type: "patch", nodes: p });
  el.getBoundingClientRect();
}
const forced = performance.now() - t1;
window.result = { firstRender, nodes: nodes(), batched, forced, layout: el.dataset.layout };
</script>"""


def browser_side(cases: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[str, Any]:
    """Load each state in Chromium through the widget's JS; return its timings (ms)."""
    from playwright.sync_api import sync_playwright

    static = REPO / "nbflow" / "widget" / "static"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path in [*static.glob("*.js"), static / "widget.css"]:
            shutil.copy(path, root / path.name)
        shutil.copy(static / "viz-standalone.mjs", root / "viz.mjs")
        (root / "index.html").write_text(HARNESS)
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS, headless=True)
                for case, (state, patches) in cases.items():
                    (root / "state.json").write_text(json.dumps(state))
                    (root / "patches.json").write_text(json.dumps(patches))
                    page = browser.new_page(viewport={"width": 1300, "height": 900})
                    page.goto(url)
                    page.wait_for_function("window.result !== undefined", timeout=180_000)
                    results[case] = page.evaluate("window.result")
                    page.close()
                browser.close()
        finally:
            server.shutdown()
    return results


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def widget_state(wf: dict[str, Any], browser_layout: bool) -> dict[str, Any]:
    from nbflow.widget.state import PHASES, run_info

    shape = graph_shape(wf)
    source = layout.dot_source(shape)
    state = {"graph": shape.to_json(), "nodes": task_states(wf, shape), "phases": PHASES,
             "info": run_info(wf), "actions": [], "selected": {}, "details": {},
             "notebook_html": "", "notice": "", "positions": {}, "dot": ""}
    if browser_layout:
        state["dot"] = source
    else:
        state["positions"] = layout.layout_with_dot(source)
    return state


def main() -> None:
    phases = ["Running", "Succeeded"]
    dag = big_dag(1000)
    dag_changes = [(f"t{i // 2}", phases[i % 2]) for i in range(1000)]  # 500 tasks start and end
    mapped = big_map(10_000)
    map_changes = [(f"score({i}:{i})", phases[j]) for j in range(2) for i in range(500)]

    print("Python side, per phase change (a flush sends a batch: 'batch' changes, as in 150 ms")
    print("of a busy run); baseline: serialising the run state, which the engine does per batch")
    for label, wf, changes in (("1,000-task DAG", dag, dag_changes),
                               ("10,000-item map", mapped, map_changes)):
        for batch in (1, 20):
            r = python_side(json.loads(json.dumps(wf)), changes, batch)
            cost = r["listener_us"] + r["flush_us"]
            print(f"  {label:<16} batch {batch:>2}: {cost:7.1f} us/change (listener "
                  f"{r['listener_us']:6.1f}, flush {r['flush_us']:7.1f}) = "
                  f"{cost / r['baseline_us']:.2f} x baseline ({r['baseline_us']:7.1f} us); "
                  f"{r['messages']} messages, {r['mean_message_bytes']:.0f} B each")
        print(f"  {label:<16} dot layout {r['dot_layout_s']:.2f} s (once per shape); "
              f"widget created in {r['widget_init_s']:.2f} s with the layout cached")

    # what the frontend receives: one patch per change; a map item's change is its group's
    map_patches = []
    for item in list(mapped["status"]["nodes"].values())[1:1001]:
        item["phase"] = "Succeeded"
        map_patches.append({"score": _state_of(mapped, "score", "group")})
    dag_patches = []
    shadow = json.loads(json.dumps(dag))
    for task, phase in dag_changes:
        n = _node(shadow, task, "Pod", phase)
        shadow["status"]["nodes"][n["id"]] = n
        dag_patches.append({task: _state_of(shadow, task, "task")})
    cases = {
        "1,000-task DAG, dot layout": (widget_state(dag, False), dag_patches),
        "1,000-task DAG, WebAssembly layout": (widget_state(dag, True), dag_patches),
        "10,000-item map, dot layout": (widget_state(mapped, False), map_patches),
    }
    print("Browser side (Chromium; the widget's JS with a stand-in model)")
    for case, r in browser_side(cases).items():
        n = len(cases[case][1])
        print(f"  {case:<36} first render {r['firstRender']:7.0f} ms ({r['nodes']} nodes, "
              f"laid out by {r['layout']}); {n} updates: {n / r['batched'] * 1000:8.0f}/s "
              f"batched, {n / r['forced'] * 1000:7.0f}/s with a layout flush after each")


def _state_of(wf: dict[str, Any], task: str, kind: str) -> dict[str, Any]:
    from nbflow.widget.state import GraphNode, task_state

    run = wf["metadata"]["name"]
    return task_state(wf, GraphNode(task, "step", kind, f"{run}.{task}"))


if __name__ == "__main__":
    main()
