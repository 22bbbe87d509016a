"""The JupyterLab extension on large homes: first paint of the sidebar and of a run view.

    python benchmarks/lab.py [--reps 3]

A home with 1,000 runs (one real quickstart run, copied under 999 other names and start
times) and one run of a 1,000-task DAG (each task depending on 1-2 of the 30 before it, all
succeeded), served by a real ``jupyter lab`` with nbflow's server extension on 127.0.0.1, in
Debian's Chromium through Playwright. Times are read in the page (``performance.now()``; "painted"
is the first timer after the next animation frame):

- sidebar: from the extension's start (its plugin activating) to the first page of the
  1,000 runs painted, and from the page's navigation start to the same moment;
- baseline, in the same page load: JupyterLab's own file browser listing a folder of 1,000
  files, from navigation start to painted;
- run view: from the click on the 1,000-task run in the sidebar to its 1,000 nodes painted,
  the first time after the server started and again in a new page. The runs are written with no
  layout kept in the home (as by ``nbflow run`` with no server running): the server lays the
  newest runs' graphs out when it starts, ahead of any view, and keeps them in ``<home>/layouts``;
- for scale, what that layout costs: ``dot`` on the 1,000-task graph alone, in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "labextension"))

from conftest import CHROMIUM, CHROMIUM_ARGS, JupyterServer, start_jupyter, stop_jupyter  # noqa: E402

N_RUNS = 1000
N_TASKS = 1000
BIG = "big-dag-bench"

# In the page: when the first run item / directory entry / run-view node count is reached, note
# the time after the next frame.
WATCH = """([selector, count, key]) => new Promise((resolve) => {
  const done = () => requestAnimationFrame(() => setTimeout(() => {
    window[key] = performance.now(); resolve(window[key]);
  }, 0));
  const enough = () => document.querySelectorAll(selector).length >= count;
  if (enough()) return done();
  const obs = new MutationObserver(() => { if (enough()) { obs.disconnect(); done(); } });
  obs.observe(document.body, { childList: true, subtree: true });
})"""


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def fill_home(server: JupyterServer) -> None:
    """One real quickstart run, copied to 1,000 runs; then the 1,000-task run."""
    first = server.start_run("quickstart.ipynb")
    server.wait_run(first)
    runs = server.home / "runs"
    source = runs / first
    workflow = json.loads((source / "workflow.json").read_text())
    settings = (source / "run.json").read_text()
    text = json.dumps(workflow)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(N_RUNS - 1):
        name = f"quickstart-b{i:04d}"
        folder = runs / name
        (folder / "logs").mkdir(parents=True)
        wf = json.loads(text.replace(first, name))
        began = start + timedelta(minutes=i)
        wf["status"]["startedAt"] = _iso(began)
        wf["status"]["finishedAt"] = _iso(began + timedelta(seconds=5 + i % 40))
        if i % 7 == 0:
            wf["status"]["phase"] = "Failed"
        (folder / "workflow.json").write_text(json.dumps(wf))
        (folder / "run.json").write_text(settings)
    big_run(runs, json.loads(settings))


def big_run(runs: Path, settings: dict[str, Any]) -> None:
    """The 1,000-task DAG of benchmarks/widget.py, every task succeeded, as a run record."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from widget import _node, big_dag

    wf = big_dag(N_TASKS)
    wf["metadata"]["name"] = BIG
    wf["metadata"]["labels"] = {"nbflow.io/workflow": "big"}
    t0 = datetime.now(timezone.utc) - timedelta(minutes=5)
    end = t0 + timedelta(minutes=3)
    wf["status"].update(phase="Succeeded", startedAt=_iso(t0), finishedAt=_iso(end))
    nodes = wf["status"]["nodes"]
    root = _node(wf, "", "DAG", "Succeeded")
    root.update(name=BIG, displayName=BIG, id=BIG)
    nodes[BIG] = root
    for task in wf["spec"]["templates"][0]["dag"]["tasks"]:
        done = _iso(t0 + timedelta(minutes=1))
        node = _node(wf, task["name"], "Pod", "Succeeded", finishedAt=done)
        nodes[node["id"]] = node
    folder = runs / BIG
    (folder / "logs").mkdir(parents=True)
    (folder / "workflow.json").write_text(json.dumps(wf))
    (folder / "run.json").write_text(json.dumps({**settings, "workflow": "big", "notebook": None}))


def measure(server: JupyterServer, browser: Any, workspace: str) -> dict[str, float]:
    """One page load: sidebar and file browser first paint, then the big run's view."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(180_000)
    page.add_init_script(
        "performance.setResourceTimingBufferSize(100000);"
        "document.addEventListener('click', (e) => { if (e.target.closest"
        "('.jp-nbflow-RunItem')) window.clicked = performance.now(); }, true);"
    )
    page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/files")
    files = page.evaluate(WATCH, [".jp-DirListing-item", N_RUNS, "filesPainted"])
    try:
        page.wait_for_function(
            "performance.getEntriesByName('nbflow-sidebar-painted').length > 0", timeout=30_000
        )
    except Exception:
        marks = page.evaluate("performance.getEntriesByType('mark').map((m) => m.name)")
        print("marks so far:", marks)
        raise
    marks = page.evaluate(
        "['nbflow-sidebar-start', 'nbflow-sidebar-painted'].map("
        "(n) => performance.getEntriesByName(n)[0].startTime)"
    )
    page.locator(".jp-SideBar [data-id='nbflow-pipelines']").click()
    page.locator(f".jp-nbflow-RunItem[data-run='{BIG}']").click()
    painted = page.evaluate(WATCH, [".jp-nbflow-RunView g.nbflow-node", N_TASKS, "viewPainted"])
    clicked = page.evaluate("window.clicked")
    request = page.evaluate(
        "performance.getEntriesByType('resource').filter((r) => r.name.includes"
        f"('/runs/{BIG}/graph')).map((r) => r.responseEnd - r.startTime)[0]"
    )
    page.close()
    return {
        "sidebar_ms": marks[1] - marks[0],
        "sidebar_from_navigation_ms": marks[1],
        "files_from_navigation_ms": files,
        "run_view_ms": painted - clicked,
        "graph_request_ms": request,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="page loads after the first")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="nbflow-lab-bench-"))
    server = start_jupyter("lab", tmp)
    try:
        fill_home(server)
        (server.root / "files").mkdir()
        for i in range(N_RUNS):
            (server.root / "files" / f"file-{i:04d}.txt").write_text("x")
        stop_jupyter(server)  # a new server reads the 1,000 runs from disk, as after a restart
        shutil.rmtree(server.home / "layouts", ignore_errors=True)  # none laid out yet
        dot_ms = dot_alone(server.home)
        server = start_jupyter("lab", tmp)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            cold = measure(server, browser, "bench-0")
            warm = [measure(server, browser, f"bench-{i + 1}") for i in range(args.reps)]
            browser.close()
    finally:
        stop_jupyter(server)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report(cold, warm, dot_ms)


def dot_alone(home: Path) -> float:
    """Median of 3 runs of ``dot`` on the 1,000-task run's graph (ms)."""
    from nbflow.engine.store import RunStore
    from nbflow.widget.layout import dot_source
    from nbflow.widget.state import graph_shape

    workflow, _ = RunStore(home / "runs").load(BIG)
    source = dot_source(graph_shape(workflow))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(["dot", "-Tjson0"], input=source, capture_output=True, text=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def report(cold: dict[str, float], warm: list[dict[str, float]], dot_ms: float) -> None:
    med = {k: statistics.median(w[k] for w in warm) for k in warm[0]} if warm else cold
    print(f"JupyterLab extension, {N_RUNS:,} runs in the home, a {N_TASKS:,}-task run (ms)")
    print(f"{'':44} {'first load':>11} {'median of ' + str(len(warm)):>13}")
    rows = [
        ("sidebar: extension start -> runs painted", "sidebar_ms"),
        ("sidebar: navigation start -> runs painted", "sidebar_from_navigation_ms"),
        ("baseline: navigation -> 1,000 files listed", "files_from_navigation_ms"),
        ("run view: click -> 1,000 nodes painted", "run_view_ms"),
        ("  of which GET runs/{run}/graph", "graph_request_ms"),
    ]
    for label, key in rows:
        print(f"{label:44} {cold[key]:11.0f} {med[key]:13.0f}")
    ratio = med["sidebar_from_navigation_ms"] / med["files_from_navigation_ms"]
    print(f"sidebar painted / Lab's file browser painted (same page loads): {ratio:.2f}")
    print(
        f"dot alone on the {N_TASKS:,}-task graph: {dot_ms:.0f} ms (the server does it ahead, "
        "when it starts or sees a new run)"
    )


if __name__ == "__main__":
    main()
