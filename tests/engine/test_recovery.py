"""Crash safety and recovery with real processes: SIGKILL and resume, Ctrl-C, retry, rerun."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.kernel

FIFTEEN = [
    "%%setup\nimport time\n"
    "def mark(name):\n"
    "    with open('executions.log', 'a') as f:\n"
    "        f.write(f'{name} {time.time()}\\n')\n"
    "    time.sleep(1)  # long enough a run for twenty kills, on either engine",
    "%%template start --outputs base\nmark('start')\nbase = 100",
    "%%template work --inputs base --outputs part --param i=0\n"
    "mark(f'work({i})')\npart = base + i * i",
    "%%template gather --inputs part --outputs total\nmark('gather')\ntotal = sum(part)",
    "%%template double --inputs total --outputs total2\nmark('double')\ntotal2 = total * 2",
    "%%template plus --inputs total2 --outputs total3\nmark('plus')\ntotal3 = total2 + 1",
    "%%template final --inputs total3 --outputs answer\nmark('final')\nanswer = total3",
    "%%workflow fifteen --parallelism 2\n"
    "start >> work.map(i=range(10)) >> gather >> double >> plus >> final",
]
ANSWER = (sum(100 + i * i for i in range(10))) * 2 + 1


def nbflow_proc(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start ``nbflow ARGS``; its output goes to a log file (it may be killed mid-write)."""
    log = cwd / f"nbflow-{time.monotonic_ns()}.log"
    with open(log, "w") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "nbflow.cli", *args],
            cwd=cwd,
            text=True,
            stdout=f,
            stderr=subprocess.STDOUT,
        )


def output(proc: subprocess.Popen[str], cwd: Path) -> str:
    proc.wait(timeout=300)
    return "\n".join(p.read_text() for p in sorted(cwd.glob("nbflow-*.log")))


def state(home: Path) -> dict[str, Any]:
    (run,) = list((home / "runs").iterdir())
    return json.loads((run / "workflow.json").read_text())


def succeeded_pods(wf: dict[str, Any]) -> set[str]:
    return {
        n["displayName"]
        for n in wf.get("status", {}).get("nodes", {}).values()
        if n["type"] == "Pod" and n["phase"] == "Succeeded"
    }


def executions(workdir: Path) -> list[tuple[str, float]]:
    log = workdir / "executions.log"
    rows = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return [(name, float(t)) for name, t in rows]


@pytest.mark.usefixtures("both_engines")
def test_sigkill_at_twenty_random_points_then_resume(
    make_notebook: Any, nbflow_home: Path, eventually: Any
) -> None:
    path = make_notebook(FIFTEEN)
    workdir = path.parent
    rng = random.Random(20261129)
    kills: list[tuple[float, set[str]]] = []
    proc = nbflow_proc("run", str(path), cwd=workdir)
    # kill only once the run exists (a loaded machine starts slowly)
    records = nbflow_home / "runs"
    eventually(lambda: list(records.glob("*/workflow.json")), 120, "the run's record")
    while len(kills) < 20:
        time.sleep(rng.uniform(0.2, 1.2))  # the random kill points (seeded)
        if proc.poll() is not None:  # it finished before we could kill it: nothing left to do
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wf = state(nbflow_home)
        kills.append((time.time(), succeeded_pods(wf)))
        if wf.get("status", {}).get("phase") == "Succeeded":
            break
        proc = nbflow_proc("resume", cwd=workdir)
    err = output(proc, workdir)
    if proc.returncode != 0 and state(nbflow_home)["status"].get("phase") != "Succeeded":
        err = output(nbflow_proc("resume", cwd=workdir), workdir)
    assert len(kills) >= 10, "the pipeline ended before enough kills"  # 20 unless it was too fast
    wf = state(nbflow_home)
    assert wf["status"]["phase"] == "Succeeded", err
    answer = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "final")
    assert answer["outputs"]["parameters"][0] == {"name": "answer", "value": str(ANSWER)}
    assert len(succeeded_pods(wf)) == 15
    # no step recorded as Succeeded at a kill ran again afterwards
    runs = executions(workdir)
    for killed_at, done in kills:
        again = [name for name, started in runs if started > killed_at and name in done]
        assert again == [], f"re-executed after succeeding: {again}"
    leftovers = [p for p in (nbflow_home / "artifacts").rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


def test_ctrl_c_stops_runs_exit_handler_and_resume_finishes(
    make_notebook: Any, nbflow_home: Path, eventually: Any
) -> None:
    path = make_notebook(
        [
            "%%template slow --no-run\nimport time, pathlib\n"
            "if pathlib.Path('be-slow').exists():\n"
            "    pathlib.Path('slow-started').touch()\n"
            "    time.sleep(60)",
            "%%template after\nprint('after')",
            "%%template bye\nprint('exit handler ran')",
            "%%workflow w --on-exit bye\nslow >> after",
        ]
    )
    (path.parent / "be-slow").write_text("")
    proc = nbflow_proc("run", str(path), cwd=path.parent)
    # interrupt while the step's own code runs
    eventually((path.parent / "slow-started").exists, 120, "the step to start")
    proc.send_signal(signal.SIGINT)
    err = output(proc, path.parent)
    assert proc.returncode == 1, err
    wf = state(nbflow_home)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "Stopped with strategy 'Stop'"
    slow = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "slow")
    assert slow["message"] == "Stopped with strategy 'Stop'"
    assert "nbflow resume" in err
    name = wf["metadata"]["name"]
    bye = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "logs", name, "onExit"],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert "exit handler ran" in bye.stdout
    (path.parent / "be-slow").unlink()
    resumed = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "resume", name, "-o", "json"],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    phases = {
        n["displayName"]: n["phase"] for n in json.loads(resumed.stdout)["status"]["nodes"].values()
    }
    assert phases["slow"] == phases["after"] == phases["onExit"] == "Succeeded"


def test_retry_after_fixing_the_cause(make_notebook: Any, nbflow_home: Path) -> None:
    path = make_notebook(
        [
            "%%template check --outputs ok\nfrom pathlib import Path\n"
            "if Path('broken').exists():\n    raise RuntimeError('still broken')\nok = True",
            "%%template use --inputs ok\nprint('used', ok)",
            "%%workflow w\ncheck >> use",
        ]
    )
    (path.parent / "broken").write_text("x")
    first = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "run", str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 1
    (path.parent / "broken").unlink()
    second = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "retry", "-o", "json"],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0, second.stderr
    wf = json.loads(second.stdout)
    assert wf["status"]["phase"] == "Succeeded"
    run_dir = next((nbflow_home / "runs").iterdir())
    assert (run_dir / "workflow.1.json").is_file()  # the failed state is kept


def test_rerun_from_a_task_uses_current_code_and_keeps_the_rest(
    make_notebook: Any, nbflow_home: Path
) -> None:
    cells = [
        "%%template a --outputs x\nimport time\nx = time.time()",
        "%%template b --inputs x --outputs y\ny = 1",
        "%%template c --inputs y --outputs z\nz = y * 10",
        "%%workflow w\na >> b >> c",
    ]
    path = make_notebook(cells)
    first = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "run", str(path), "-o", "json"],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    name = json.loads(first.stdout)["metadata"]["name"]
    cells[1] = "%%template b --inputs x --outputs y\ny = 2"  # edit one cell
    make_notebook(cells)
    second = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "rerun", name, "--from", "b", "-o", "json"],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0, second.stderr
    before = {n["displayName"]: n for n in json.loads(first.stdout)["status"]["nodes"].values()}
    after = {n["displayName"]: n for n in json.loads(second.stdout)["status"]["nodes"].values()}
    assert after["a"]["outputs"] == before["a"]["outputs"]  # a did not run again
    assert after["a"]["startedAt"] == before["a"]["startedAt"]
    assert {"name": "z", "value": "20"} in after["c"]["outputs"]["parameters"]
