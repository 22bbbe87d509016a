"""Kernel and process faults with real kernels: crashes, out-of-memory kills, deadlines, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("both_engines")]


def run(make_notebook: Any, cells: list[str], **kwargs: Any) -> Any:
    path = make_notebook(cells)
    wf = read_notebook(path).workflow()
    return api.run_workflow(wf, config=load_config(cache=False), workdir=path.parent, **kwargs)


def test_kernel_deaths_are_errors_with_the_reason_and_are_retried(
    make_notebook: Any, nbflow_home: Path
) -> None:
    r = run(
        make_notebook,
        [
            "%%template exits --retries 1 --retry-policy OnError --no-run\nimport os\nos._exit(7)",
            "%%template segfault --no-run\nimport ctypes\nctypes.string_at(0)",
            "%%template oom --no-run\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
            "%%template after\nprint('the run went on')",
            "%%workflow faults\n[exits.continue_on_fail(), segfault.continue_on_fail(), "
            "oom.continue_on_fail()] >> after",
        ],
    )
    pods = {t: [(p["phase"], p.get("message")) for p in r.pods(t)] for t in r.tasks()}
    assert pods["exits"] == [("Error", "kernel died: exit code 7")] * 2  # retried on OnError
    assert pods["segfault"] == [("Error", "kernel died: exit code -11 (SIGSEGV)")]
    assert pods["oom"] == [("Error", "kernel died: exit code -9 (SIGKILL: out of memory?)")]
    assert r.tasks()["after"] == "Succeeded"
    assert Path(r.notebook("segfault")).is_file()  # the executed notebook is kept


def test_workflow_deadline_kills_steps(make_notebook: Any, nbflow_home: Path) -> None:
    path = make_notebook(
        [
            "%%template slow --no-run\nimport time\ntime.sleep(120)",
            "%%template bye\nprint('bye')",
            "%%workflow w --on-exit bye\nslow",
        ]
    )
    manifest = api.compile_workflow(read_notebook(path).workflow(), base_dir=path.parent)
    manifest["spec"]["activeDeadlineSeconds"] = 4
    started = time.monotonic()
    r = api.run_workflow(manifest, config=load_config(cache=False), workdir=path.parent)
    assert time.monotonic() - started < 60
    assert r.phase == "Failed"
    assert r.pods("slow")[0]["message"] == "Step exceeded its deadline"
    assert r.tasks()["onExit"] == "Succeeded"


def test_suspend_and_resume_from_another_process(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path, eventually: Any
) -> None:
    path = make_notebook(
        [
            "%%template before --outputs x\nx = 1",
            "%%template after --inputs x\nprint('after', x)",
            "%%workflow w\nbefore >> after",
        ]
    )
    manifest = api.compile_workflow(read_notebook(path).workflow(), base_dir=path.parent)
    spec = manifest["spec"]
    spec["templates"].append({"name": "approve", "suspend": {}})
    tasks = spec["templates"][0]["dag"]["tasks"]
    tasks.insert(1, {"name": "approve", "template": "approve", "depends": "before"})
    tasks[2]["depends"] = "approve"
    wf_file = tmp_path / "wf.json"
    wf_file.write_text(json.dumps(manifest))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbflow.cli", "run", str(wf_file), "-o", "json"],
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def suspended() -> bool:
        runs = list((nbflow_home / "runs").glob("*/workflow.json"))
        nodes = json.loads(runs[0].read_text()).get("status", {}).get("nodes", {}) if runs else {}
        return any(n["type"] == "Suspend" and n["phase"] == "Running" for n in nodes.values())

    try:
        eventually(suspended, 90, "the run to reach its suspend node")
    except AssertionError:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the run never reached its suspend node: {err}")
    resume = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "resume", "--node", "approve"],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert resume.returncode == 0 and "asked run" in resume.stderr
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    phases = {n["displayName"]: n["phase"] for n in json.loads(out)["status"]["nodes"].values()}
    assert phases["approve"] == phases["after"] == "Succeeded"
