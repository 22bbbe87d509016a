"""Every gallery notebook, run in a real kernel and from a terminal with ``nbflow run``, with
assertions on what its runs produced."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import GALLERY, NBFLOW, NOTEBOOKS, Executed, clean_env, copy_gallery, finished

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_runs")]
Kernels = dict[str, Future[Executed]]


# ---------------------------------------------------------------- helpers


def nbflow(*args: str, cwd: Path, env: dict[str, str], code: int = 0) -> str:
    """Run the ``nbflow`` command; assert its exit code; its stdout."""
    proc = subprocess.run(
        [NBFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == code, f"nbflow {' '.join(args)}: {proc.returncode}\n{proc.stderr}"
    return proc.stdout


def run_json(*args: str, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """``nbflow run ARGS -o json``: the final Workflow object."""
    return dict(json.loads(nbflow("run", *args, "-o", "json", cwd=cwd, env=env)))


def phases(wf: dict[str, Any]) -> dict[str, str]:
    """Phase of each task of a Workflow's entry DAG (a mapped task: its group node)."""
    name = wf["metadata"]["name"]
    nodes = (wf.get("status") or {}).get("nodes", {}).values()
    return {n["name"][len(name) + 1:]: n["phase"] for n in nodes
            if n["name"].startswith(name + ".") and "(" not in n["name"]}


def pods(wf: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """The pod nodes of ``task`` (every attempt, every item), in start order."""
    name = wf["metadata"]["name"]
    found = [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"
             and n["name"].split("(")[0] == f"{name}.{task}"]
    return sorted(found, key=lambda n: (n.get("startedAt") or "", n["name"]))


def output(wf: dict[str, Any], task: str, name: str) -> Any:
    """A JSON output of the last attempt of ``task``."""
    params = pods(wf, task)[-1]["outputs"]["parameters"]
    return json.loads(next(p["value"] for p in params if p["name"] == name))


def task_phases(wf: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in phases(wf).items() if k != "onExit"}


@pytest.fixture()
def work(tmp_path: Path, nbflow_home: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the gallery to run in, and the environment of a fresh nbflow home."""
    return copy_gallery(tmp_path / "notebooks"), clean_env(nbflow_home)


class Hook:
    """A webhook receiver on loopback: the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout_s: float = 90) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.received) >= count, f"{len(self.received)} notifications, not {count}"
        return self.received


@pytest.fixture()
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


# ---------------------------------------------------------------- the gallery itself


def test_every_gallery_notebook_is_tested() -> None:
    found = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert found == set(GALLERY)
    for name in GALLERY:  # saved without outputs: what Binder users open is what CI ran
        nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
        assert all(not c.get("outputs") for c in nb["cells"]), name


# ---------------------------------------------------------------- from a terminal


def test_etl_terminal(work: tuple[Path, dict[str, str]]) -> None:
    cwd, env = work
    good = run_json("etl.ipynb", cwd=cwd, env=env)
    assert good["status"]["phase"] == "Succeeded"
    assert task_phases(good) == {
        "extract": "Succeeded", "clean": "Succeeded", "combine": "Succeeded",
        "publish": "Succeeded", "quarantine": "Skipped",
    }
    assert len(pods(good, "clean")) == 4
    bad = run_json("etl.ipynb", "-p", "bad_every=20", cwd=cwd, env=env)
    assert task_phases(bad)["publish"] == "Skipped"
    assert task_phases(bad)["quarantine"] == "Succeeded"
    # extract's output changed, so nothing downstream of it came from the cache
    assert not any((p.get("memoizationStatus") or {}).get("hit") for p in pods(bad, "clean"))


def test_ml_terminal(work: tuple[Path, dict[str, str]]) -> None:
    cwd, env = work
    wf = run_json("ml.ipynb", cwd=cwd, env=env)
    assert wf["status"]["phase"] == "Succeeded"
    assert [p["phase"] for p in pods(wf, "load")] == ["Failed", "Succeeded"]  # retried
    assert len(pods(wf, "train")) == 5
    assert task_phases(wf)["report"] == "Succeeded"
    params = {p["name"]: p["value"] for p in pods(wf, "best")[0]["outputs"]["parameters"]}
    assert float(params["accuracy"]) > 0.9
    assert float(params["best_C"]) in (0.001, 0.01, 0.1, 1.0, 10.0)


def test_parameters_terminal(work: tuple[Path, dict[str, str]]) -> None:
    cwd, env = work
    wf = run_json("parameters.ipynb", "-p", "deposit=50", cwd=cwd, env=env)
    assert wf["status"]["phase"] == "Succeeded"
    items = pods(wf, "simulate")
    assert len(items) == 6
    finals = [json.loads(next(p["value"] for p in pod["outputs"]["parameters"]
                              if p["name"] == "final")) for pod in items]
    assert {(f["rate"], f["years"]) for f in finals} == {
        (r, y) for r in (0.02, 0.05, 0.08) for y in (5, 10)
    }
    assert {f["deposit"] for f in finals} == {50}


def test_approval_terminal(work: tuple[Path, dict[str, str]]) -> None:
    """The gate from a terminal: compile, add the suspend node, run it, resume it from
    another process."""
    cwd, env = work
    assert task_phases(run_json("approval.ipynb", cwd=cwd, env=env)) == {
        "train": "Succeeded", "publish": "Succeeded",
    }
    manifest = yaml.safe_load(nbflow("compile", "approval.ipynb", cwd=cwd, env=env))
    spec = manifest["spec"]
    spec["templates"].append({"name": "approve", "suspend": {}})
    dag = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])["dag"]
    dag["tasks"].append({"name": "approve", "template": "approve", "depends": "train"})
    next(t for t in dag["tasks"] if t["name"] == "publish")["depends"] = "approve"
    (cwd / "release.yaml").write_text(yaml.safe_dump(manifest))
    runs = Path(env["NBFLOW_HOME"]) / "runs"
    before = set(runs.iterdir())
    proc = subprocess.Popen(
        [NBFLOW, "run", "release.yaml", "-o", "json"], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 180  # a wait, not a timed assertion (CI machines are busy)
        waiting: dict[str, Any] = {"metadata": {"name": ""}}
        while time.monotonic() < deadline and phases(waiting).get("approve") != "Running":
            time.sleep(0.2)  # the new run's record, as the engine writes it (atomically)
            for folder in set(runs.iterdir()) - before:
                if (folder / "workflow.json").exists():
                    waiting = json.loads((folder / "workflow.json").read_text())
        assert phases(waiting) == {"train": "Succeeded", "approve": "Running"}
        assert proc.poll() is None  # the run waits at the gate
        nbflow("resume", waiting["metadata"]["name"], "--node", "approve", cwd=cwd, env=env)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert task_phases(json.loads(stdout)) == {
        "train": "Succeeded", "approve": "Succeeded", "publish": "Succeeded",
    }


def _edit_cell(notebook: Path, head: str, code: str) -> None:
    """Replace the code of the cell that starts with ``head`` (as editing it in Lab would)."""
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if "".join(c["source"]).startswith(head))
    cell["source"] = f"{head}\n{code}\n"
    notebook.write_text(json.dumps(nb))


def _hits(wf: dict[str, Any]) -> dict[str, bool]:
    return {t: bool(pods(wf, t)[-1].get("memoizationStatus", {}).get("hit"))
            for t in ("features", "train", "report")}


def test_caching_terminal(work: tuple[Path, dict[str, str]]) -> None:
    cwd, env = work
    first = run_json("caching.ipynb", cwd=cwd, env=env)
    assert _hits(first) == {"features": False, "train": False, "report": False}
    assert _hits(run_json("caching.ipynb", cwd=cwd, env=env)) == dict.fromkeys(_hits(first), True)
    _edit_cell(cwd / "caching.ipynb", "%%template train --inputs table --outputs score",
               "score = round(min(y for _, y in table), 6)")
    assert _hits(run_json("caching.ipynb", cwd=cwd, env=env)) == {
        "features": True, "train": False, "report": False,
    }
    _edit_cell(cwd / "caching.ipynb", "%%template report --inputs score --outputs line",
               'line = f"edited: {score}"')
    run = first["metadata"]["name"]
    nbflow("rerun", run, "--from", "report", cwd=cwd, env=env)
    again = json.loads(nbflow("status", run, "-o", "json", cwd=cwd, env=env))
    assert again["status"]["phase"] == "Succeeded"
    train, report = pods(again, "train")[-1], pods(again, "report")[-1]
    assert train["startedAt"] == pods(first, "train")[-1]["startedAt"]  # kept
    assert report["startedAt"] > pods(first, "report")[-1]["startedAt"]  # ran again
    line = next(p["value"] for p in report["outputs"]["parameters"] if p["name"] == "line")
    assert json.loads(line) == "edited: 0.041486"  # the first run's train output, kept


def test_scheduling_terminal(work: tuple[Path, dict[str, str]], hook: Hook) -> None:
    cwd, env = work
    env["NBFLOW_WEBHOOK_OPS"] = hook.url
    wf = run_json("scheduling.ipynb", cwd=cwd, env=env)
    assert wf["status"]["phase"] == "Succeeded"
    assert hook.wait(1)[0]["run"] == wf["metadata"]["name"]
    nbflow("schedule", "add", "scheduling.ipynb", "--cron", "0 2 * * *", "--notify",
           "webhook:ops", "--notify-on", "always", "--name", "nightly", cwd=cwd, env=env)
    listed = nbflow("schedule", "list", cwd=cwd, env=env)
    assert "nightly" in listed and "0 2 * * *" in listed
    nbflow("schedule", "run-now", "nightly", cwd=cwd, env=env)
    second = hook.wait(2)[1]
    assert second["phase"] == "Succeeded" and second["run"].startswith("nightly-")


def test_cluster_terminal(work: tuple[Path, dict[str, str]], validate_manifest: Any) -> None:
    cwd, env = work
    manifest = yaml.safe_load(nbflow("compile", "cluster.ipynb", cwd=cwd, env=env))
    validate_manifest(manifest)
    cron = yaml.safe_load(nbflow("compile", "cluster.ipynb", "--kind", "cronworkflow",
                                 "--schedule", "0 2 * * *", cwd=cwd, env=env))
    assert cron["kind"] == "CronWorkflow"
    wf = run_json("cluster.ipynb", cwd=cwd, env=env)
    total = pods(wf, "total")[0]["outputs"]["parameters"]
    assert json.loads(next(p["value"] for p in total if p["name"] == "result")) == 2355


def test_s3_terminal(work: tuple[Path, dict[str, str]], s3_server: Any) -> None:
    cwd, env = work
    env.update(AWS_ENDPOINT_URL=s3_server.endpoint, AWS_ACCESS_KEY_ID="gallery",
               AWS_SECRET_ACCESS_KEY="gallery", AWS_DEFAULT_REGION="us-east-1")
    s3_server.fs.mkdir("terminal")
    wf = run_json("s3.ipynb", "--artifact-root", "s3://terminal/runs", cwd=cwd, env=env)
    assert wf["status"]["phase"] == "Succeeded"
    keys = s3_server.fs.find(f"terminal/runs/regions/{wf['metadata']['name']}")
    assert len([k for k in keys if "/clean/" in k]) >= 4
    assert not list((Path(env["NBFLOW_HOME"]) / "artifacts").rglob("*.parquet"))


def test_quickstart_terminal(work: tuple[Path, dict[str, str]]) -> None:
    cwd, env = work
    wf = run_json("quickstart.ipynb", cwd=cwd, env=env)
    assert task_phases(wf)["report"] == "Succeeded"
    assert [p["phase"] for p in pods(wf, "generate")] == ["Failed", "Succeeded"]


# ---------------------------------------------------------------- in a kernel


def test_quickstart_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "quickstart")
    (wf,) = done.runs()
    assert wf["status"]["phase"] == "Succeeded"
    assert "'shards': 4" in done.text()


def test_etl_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "etl")
    good, bad = done.runs()
    assert (task_phases(good)["publish"], task_phases(good)["quarantine"]) == (
        "Succeeded", "Skipped")
    assert (task_phases(bad)["publish"], task_phases(bad)["quarantine"]) == (
        "Skipped", "Succeeded")
    assert "data-quality gate closed" in done.text()
    assert done.text().count(".parquet") >= 4


def test_ml_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "ml")
    (wf,) = done.runs()
    assert [p["phase"] for p in pods(wf, "load")] == ["Failed", "Succeeded"]
    assert len(pods(wf, "train")) == 5
    report = pods(wf, "report")[0]
    assert report["phase"] == "Succeeded"
    assert "held_out" in done.text() and "leaderboard" not in done.stderr


def test_parameters_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "parameters")
    base, bigger = done.runs()
    assert len(pods(base, "simulate")) == len(pods(bigger, "simulate")) == 6
    assert "6 executed notebooks" in done.text()


def test_approval_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "approval")
    (wf,) = done.runs()
    assert task_phases(wf) == {
        "train": "Succeeded", "approve": "Succeeded", "publish": "Succeeded",
    }
    approve = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "approve")
    assert approve["type"] == "Suspend"
    assert (done.workdir / "release.yaml").exists()


def test_caching_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "caching")
    first, second, third = done.runs()  # the rerun changed the first run in place
    assert all(p.get("memoizationStatus", {}).get("hit") for t in ("features", "train", "report")
               for p in pods(second, t))
    assert [bool(pods(third, t)[0].get("memoizationStatus", {}).get("hit"))
            for t in ("features", "train", "report")] == [True, False, False]
    # the first run, rerun from report with the edited cell, kept its own train result
    assert output(first, "report", "line") == "signal: 0.041 (rounded)"
    assert output(first, "train", "score") == 0.041486
    assert output(third, "train", "score") == 1.0  # the edited train: the peak


def test_scheduling_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "scheduling")
    runs = done.runs()
    assert [wf["status"]["phase"] for wf in runs] == ["Succeeded"]
    assert runs[0]["metadata"]["name"].startswith("nightly-")
    assert "Succeeded" in done.text() and "Paris" in done.text()
    assert not list((done.home / "schedules").glob("*.yaml"))  # removed at the end


def test_cluster_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "cluster")
    (wf,) = done.runs()
    assert wf["status"]["phase"] == "Succeeded"
    assert "kind: Role" in done.text() and "CronWorkflow" in done.text()


def test_s3_kernel(kernel_runs: Kernels) -> None:
    done = finished(kernel_runs, "s3")
    (wf,) = done.runs()
    assert wf["status"]["phase"] == "Succeeded"
    assert "s3://gallery/runs/regions/" in done.text()
    assert not list((done.home / "artifacts").rglob("*.parquet"))  # nothing went to the folder
