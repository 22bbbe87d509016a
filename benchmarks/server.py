"""The Jupyter server extension: the run list with 1,000 runs, and starting a run through a warm
server against ``nbflow run`` from a terminal.

    python benchmarks/server.py                 # ~3 minutes
    python benchmarks/server.py --runs 1000 --requests 300 --starts 10

(1) Run list: a home holding ``--runs`` run records (one real run of a 3-task chain, copied
    with new names over 10 workflows, a tenth of them Failed) behind a real ``jupyter server``.
    ``GET nbflow/api/runs`` is timed from this process over HTTP (p50/p95/max of ``--requests``
    requests: a first page, a workflow filter, a phase filter, a page deep in the list, in
    turns), and its first request after the server started. Baseline, in this same run: what
    reading every record per request costs (load and summarize each ``workflow.json``, as
    ``nbflow list`` does), timed in this process without HTTP.
(2) Start: a notebook of 3 trivial steps, run ``--starts`` times each way, in turns:
    ``POST nbflow/api/runs`` to a server that had the notebook opened (``GET
    notebooks/workflows``, as the Lab sidebar does, warms a fork server up), the same with
    ``--NbflowExtension.warm_servers=0`` (each run warms its own fork server up), and ``nbflow
    run NOTEBOOK`` from a terminal (a new process). Timed from the request (or the process
    start) to the first step's ``Running`` in the run record, to that step's end, and to the
    run's end, by polling the record's file from this process in every case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat

PY = sys.executable
TOKEN = "benchmark"
DONE = ("Succeeded", "Failed", "Error")


def notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


CHAIN = [
    "%%template first --outputs x --param seed=0\nx = seed",
    "%%template second --inputs x --outputs y\ny = x + 1",
    "%%template third --inputs y\nprint(y)",
    "%%workflow chain\nfirst >> second >> third",
]


# ------------------------------------------------------------------------------ server


class Server:
    """A ``jupyter server`` process with nbflow's extension, on a free port."""

    def __init__(self, root: Path, home: Path, *args: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, NBFLOW_HOME=str(home))
        env.pop("NBFLOW_ARTIFACT_ROOT", None)
        self.proc = subprocess.Popen(
            [PY, "-m", "jupyter_server", "--no-browser", "--allow-root",
             f"--port={self.port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={root}", *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("api/status")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the Jupyter server did not start") from None
                time.sleep(0.1)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path}", data=data, method=method,
            headers={"Authorization": f"token {TOKEN}"},
        )
        with urllib.request.urlopen(req, timeout=60) as response:
            text = response.read()
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------ (1) list


def fill_home(home: Path, folder: Path, count: int) -> None:
    """One real run, then ``count - 1`` copies of its record under new names."""
    from nbflow.actions import run_notebook
    from nbflow.config import load_config

    config = load_config(home=str(home), artifact_root=(home / "artifacts").as_uri())
    run = run_notebook(notebook(folder / "chain.ipynb", CHAIN), config=config, wait=True)
    source = home / "runs" / run.id
    wf = json.loads((source / "workflow.json").read_text())
    settings = json.loads((source / "run.json").read_text())
    for i in range(1, count):
        name = f"w{i % 10}-{i:05d}"
        copy = home / "runs" / name
        copy.mkdir()
        (copy / "workflow.json").write_text(json.dumps(renamed(wf, name, i)))
        (copy / "run.json").write_text(json.dumps(
            {**settings, "workflow": f"w{i % 10}",
             "notebook": str(folder / f"w{i % 10}.ipynb")}))


def renamed(wf: dict[str, Any], name: str, i: int) -> dict[str, Any]:
    """The record of ``wf`` as run ``name`` (its node names and ids too)."""
    from nbflow.engine.nodes import node_id

    old = wf["metadata"]["name"]
    out = json.loads(json.dumps(wf).replace(old, name))
    out["metadata"]["labels"]["nbflow.io/workflow"] = f"w{i % 10}"
    ids = {}
    nodes = {}
    for node in out["status"]["nodes"].values():
        new_id = node_id(name, node["name"])
        ids[node["id"]] = new_id
        nodes[new_id] = {**node, "id": new_id}
    for node in nodes.values():
        node["children"] = [ids.get(c, c) for c in node.get("children") or []]
        if node.get("boundaryID"):
            node["boundaryID"] = ids.get(node["boundaryID"], node["boundaryID"])
    out["status"]["nodes"] = nodes
    if i % 10 == 3:
        out["status"]["phase"] = "Failed"
    return out


def naive_list(home: Path) -> float:
    """Seconds to answer one list request by reading every record."""
    from nbflow.engine.store import RunStore
    from nbflow.summary import summarize

    start = time.perf_counter()
    store = RunStore(home / "runs")
    rows = []
    for path in (home / "runs").iterdir():
        wf, settings = store.load(path.name)
        rows.append(summarize(wf, settings, live=False))
    rows.sort(key=lambda r: r["startedAt"] or "", reverse=True)
    json.dumps(rows[:50])
    return time.perf_counter() - start


def bench_list(server: Server, home: Path, requests: int) -> dict[str, Any]:
    queries = ["nbflow/api/runs", "nbflow/api/runs?workflow=w3", "nbflow/api/runs?phase=Failed",
               "nbflow/api/runs?offset=500&limit=50"]
    times = []
    total = None
    for i in range(requests):
        start = time.perf_counter()
        data = server.get(queries[i % len(queries)])
        times.append(time.perf_counter() - start)
        if i == 0:
            total = data["total"]
    naive = [naive_list(home) for _ in range(5)]
    return {"times": times, "total": total, "naive": statistics.median(naive)}


# ------------------------------------------------------------------------------ (2) start


def first_step(
    runs: Path, name: str | None, t0: float, before: set[str] | None = None
) -> dict[str, float]:
    """Poll the run's record: seconds from ``t0`` to its first pod Running, to that pod's end,
    to the run's end. ``name`` ``None``: the first run folder not in ``before``."""
    marks: dict[str, float] = {}
    before = before or set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if name is None:
            new = set(os.listdir(runs)) - before
            name = new.pop() if new else None
        try:
            wf = json.loads((runs / name / "workflow.json").read_text()) if name else {}
        except (OSError, ValueError):
            wf = {}
        status = wf.get("status") or {}
        pods = [n for n in (status.get("nodes") or {}).values() if n["type"] == "Pod"]
        now = time.perf_counter() - t0
        if pods and "running" not in marks:
            marks["running"] = now
        if any(p["phase"] in DONE for p in pods) and "step" not in marks:
            marks["step"] = now
        if status.get("phase") in DONE:
            marks["run"] = now
            return marks
        time.sleep(0.005)
    raise RuntimeError(f"run {name} did not end")


SEEDS = iter(range(1, 1 << 30))  # a new parameter per run: no step result comes from the cache


def start_server(server: Server, runs: Path) -> dict[str, float]:
    body = {"notebook": "chain.ipynb", "parameters": {"seed": next(SEEDS)}}
    t0 = time.perf_counter()
    run_id = server.request("POST", "nbflow/api/runs", body)["id"]
    return first_step(runs, run_id, t0)


def start_cli(folder: Path, home: Path) -> dict[str, float]:
    env = dict(os.environ, NBFLOW_HOME=str(home))
    argv = [PY, "-m", "nbflow.cli", "run", str(folder / "chain.ipynb"), "-p", f"seed={next(SEEDS)}"]
    before = set(os.listdir(home / "runs"))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    marks = first_step(home / "runs", None, t0, before)
    proc.wait()
    return marks


def bench_start(folder: Path, home: Path, warm: Server, cold: Server, starts: int) -> dict:
    warm.get("nbflow/api/notebooks/workflows?path=chain.ipynb")  # the sidebar opens it
    cold.get("nbflow/api/notebooks/workflows?path=chain.ipynb")
    time.sleep(3)
    start_server(warm, home / "runs")  # one of each first: imports, caches
    start_server(cold, home / "runs")
    results: dict[str, list[dict[str, float]]] = {"warm": [], "cold": [], "cli": []}
    for _ in range(starts):
        time.sleep(1.5)  # at a person's pace: the spare taken by the last run is ready again
        results["warm"].append(start_server(warm, home / "runs"))
        results["cold"].append(start_server(cold, home / "runs"))
        results["cli"].append(start_cli(folder, home))
    return results


# ------------------------------------------------------------------------------ report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--starts", type=int, default=10)
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nbflow-bench-server-"))
    home, root = base / "home", base / "root"
    root.mkdir()
    notebook(root / "chain.ipynb", CHAIN)
    servers: list[Server] = []
    try:
        fill_home(home, base / "notebooks", args.runs)
        t0 = time.perf_counter()
        warm = Server(root, home)
        servers.append(warm)
        start = time.perf_counter()
        warm.get("nbflow/api/runs")
        first, ready = time.perf_counter() - start, start - t0
        r = bench_list(warm, home, args.requests)
        times = r["times"]
        print(f"(1) GET nbflow/api/runs with {r['total']} runs in the home "
              f"({args.requests} requests, 4 kinds in turns)")
        print(f"    p50 {ms(pct(times, 0.5))}   p95 {ms(pct(times, 0.95))}   "
              f"max {ms(max(times))}   first request after start {ms(first)} "
              f"(server ready in {ready:.1f} s)")
        print(f"    baseline, reading every record per request: {ms(r['naive'])} "
              f"= {r['naive'] / pct(times, 0.5):.0f} x the p50")
        cold = Server(root, home, "--NbflowExtension.warm_servers=0")
        servers.append(cold)
        res = bench_start(root, home, warm, cold, args.starts)
        print(f"(2) a 3-step notebook run {args.starts} times each way, in turns: median "
              f"[min-max] from the request to ...")
        labels = {"warm": "POST runs, warm server", "cold": "POST runs, warm_servers=0",
                  "cli": "nbflow run (terminal)"}
        for key, label in labels.items():
            cols = []
            for mark in ("running", "step", "run"):
                v = [m[mark] for m in res[key]]
                cols.append(f"{ms(statistics.median(v))} [{min(v) * 1000:.0f}-"
                            f"{max(v) * 1000:.0f}]")
            print(f"    {label:<27} first step Running {cols[0]}  its end {cols[1]}  "
                  f"run's end {cols[2]}")
        for mark, what in (("running", "first step Running"), ("step", "first step's end"),
                           ("run", "run's end")):
            w = statistics.median(m[mark] for m in res["warm"])
            c = statistics.median(m[mark] for m in res["cli"])
            print(f"    {what}: nbflow run / warm server = {c / w:.1f} x")
    finally:
        for server in servers:
            server.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
