"""Run records survive faults: corrupt or partial records, secrets, a second engine, a full disk."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.engine.store import RunStore
from nbflow.errors import RunLocked


def nbflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def record(home: Path, name: str, phase: str = "Succeeded") -> Path:
    """A finished run's record, as an engine leaves it (no step needed)."""
    wf = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": {"nbflow.io/workflow": "w"}},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": []}}]},
        "status": {"phase": phase, "startedAt": "2026-01-01T00:00:00Z", "nodes": {}},
    }
    root = (home / "artifacts").as_uri()
    return RunStore(home / "runs").create(wf, {"artifact_root": root, "workdir": str(home)})


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_corrupt_record_is_one_line_naming_the_file_and_other_runs_still_work(
    nbflow_home: Path,
) -> None:
    good = record(nbflow_home, "w-good1")
    bad = record(nbflow_home, "w-bad01")
    (bad / "workflow.json").write_text('{"metadata": {"na')  # cut short
    for args in (["status", "w-bad01"], ["resume", "w-bad01"], ["logs", "w-bad01", "a"],
                 ["retry", "w-bad01"]):
        line = one_line_error(nbflow(*args))
        assert line.startswith(f"nbflow: error: run record {bad / 'workflow.json'} is corrupt (")
    listing = nbflow("list")
    assert listing.returncode == 0
    assert "w-good1" in listing.stdout and "w-bad01" not in listing.stdout
    assert listing.stderr.strip() == (
        f"nbflow: warning: run record {bad / 'workflow.json'} is corrupt "
        "(Unterminated string starting at: line 1 column 15 (char 14))"
    )
    status = nbflow("status", "w-good1")
    assert status.returncode == 0 and "run w-good1: Succeeded" in status.stdout
    assert good.is_dir()


def test_a_partial_record_is_one_line_too(nbflow_home: Path) -> None:
    record(nbflow_home, "w-good1")
    part = record(nbflow_home, "w-part1")
    (part / "run.json").unlink()  # created, but cut short before its settings
    line = one_line_error(nbflow("status", "w-part1"))
    assert line == (
        f"nbflow: error: run record {part / 'run.json'} is missing (the run was not fully "
        "created)"
    )
    assert "w-good1" in nbflow("list").stdout
    (part / "workflow.json").write_text("[1, 2]")
    assert "not a JSON object" in one_line_error(nbflow("status", "w-part1"))


@pytest.mark.parametrize("how", ["option", "environment"])
def test_an_artifact_root_with_a_secret_is_refused_before_anything_is_written(
    make_notebook: Any, nbflow_home: Path, how: str
) -> None:
    path = make_notebook("chain")
    root = "s3://someone:hunter2-secret@bucket/prefix"
    if how == "option":
        proc = nbflow("run", str(path), "--artifact-root", root)
    else:
        proc = nbflow("run", str(path), env={"NBFLOW_ARTIFACT_ROOT": root})
    line = one_line_error(proc)
    assert "must not hold credentials (user:secret@)" in line and "hunter2" not in line
    written = [p for p in nbflow_home.rglob("*") if p.is_file()] if nbflow_home.exists() else []
    assert written == []
    assert nbflow("list").returncode == 0


def test_a_second_engine_is_refused_before_it_writes_anything(nbflow_home: Path) -> None:
    folder = record(nbflow_home, "w-fail1", phase="Failed")
    (folder / "pids").mkdir()
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    runs = RunStore(nbflow_home / "runs")
    held = runs.acquire("w-fail1")  # an engine works on it
    try:
        with pytest.raises(RunLocked, match=r"^run w-fail1 is being run by another process"):
            api.retry_run("w-fail1")
        run = api.get_run("w-fail1")
        with pytest.raises(RunLocked):
            run.driver.start()  # type: ignore[union-attr]
        line = one_line_error(nbflow("retry", "w-fail1"))
        pid = os.getpid()
        assert line == f"nbflow: error: run w-fail1 is being run by another process (pid {pid})"
    finally:
        held.release()
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == {**before, "lock": b""}  # no snapshot, no state written


@pytest.mark.kernel
def test_racing_resumes_never_write_into_the_live_record(
    make_notebook: Any, nbflow_home: Path
) -> None:
    path = make_notebook(
        ["%%template slow --outputs x\nimport time\ntime.sleep(4)\nx = 1", "%%workflow s\nslow"]
    )
    first = subprocess.Popen([sys.executable, "-m", "nbflow.cli", "run", str(path), "--no-cache"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = nbflow_home / "runs"
    deadline = time.monotonic() + 120
    while not _pod_running(runs) and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()  # the engine dies with its step running
    first.wait()
    (run_id,) = [p.name for p in runs.iterdir()]
    record_path = runs / run_id / "workflow.json"
    procs = [
        subprocess.Popen([sys.executable, "-m", "nbflow.cli", "resume", run_id],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    phases = set()
    while any(p.poll() is None for p in procs):
        try:
            status = json.loads(record_path.read_text())["status"]
            phases.add((status.get("phase"), status.get("message")))
        except (ValueError, OSError):
            pass  # being replaced right now
        time.sleep(0.02)
    outs = [(p.returncode, p.communicate()[1]) for p in procs]
    assert not any(phase == "Error" for phase, _ in phases), phases
    assert json.loads(record_path.read_text())["status"]["phase"] == "Succeeded"
    winners = [o for o in outs if o[0] == 0 and f"run {run_id}: Succeeded" in o[1]]
    assert len(winners) == 1, outs
    (loser,) = [o for o in outs if o not in winners]
    assert "Traceback" not in loser[1]
    assert (
        loser[0] == 2 and "is being run by another process" in loser[1]
    ) or (loser[0] == 0 and f"asked run {run_id} to resume" in loser[1]), outs


def _pod_running(runs: Path) -> bool:
    for path in runs.glob("*/workflow.json"):
        try:
            nodes = json.loads(path.read_text())["status"]["nodes"].values()
        except (ValueError, OSError, KeyError):
            continue
        if any(n["type"] == "Pod" and n["phase"] == "Running" for n in nodes):
            return True
    return False


def _can_mount() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs Linux, root and unshare to mount a small tmpfs"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )
    return None if probe.returncode == 0 else "this machine does not allow mounting a tmpfs"


_NO_MOUNT = _can_mount()  # probed once, when the tests are collected


@pytest.mark.kernel
@pytest.mark.skipif(_NO_MOUNT is not None, reason=str(_NO_MOUNT))
def test_a_full_disk_is_one_line_and_resume_goes_on(
    make_notebook: Any, tmp_path: Path, both_engines: str
) -> None:
    """The home on a real 40 MiB tmpfs, a third of it taken: the step's 12 MiB output fits in
    its folder, but not a second time in the artifact store."""
    path = make_notebook(
        ["%%template big --outputs blob\nimport os\nblob = os.urandom(12 * 2**20)",
         "%%template size --inputs blob --outputs n\nn = len(blob)",
         "%%workflow d\nbig >> size"]
    )
    home = tmp_path / "small-disk"
    home.mkdir()
    cli = f"{sys.executable} -m nbflow.cli"
    script = f"""
        set -u
        mount -t tmpfs -o size=40m tmpfs {home}
        head -c $((16 * 1024 * 1024)) /dev/zero > {home}/filler
        export NBFLOW_HOME={home} NBFLOW_ENGINE={both_engines}
        {cli} run {path} --no-cache; echo "RUN-EXIT $?"
        echo "RECORD $({cli} status | sed -n 1p)"
        rm {home}/filler
        {cli} resume; echo "RESUME-EXIT $?"
        {sys.executable} -c "from nbflow import api; print('OUTPUT', api.get_run().outputs('size'))"
    """
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert "RUN-EXIT 1" in out, out
    full = [line for line in out.splitlines() if "no space left on the device" in line]
    assert len(full) == 1 and "make room, then: nbflow resume" in full[0], out
    assert re.search(r"RECORD run d-\w+: Running\n", out), out  # as saved last: resume goes on
    assert "RESUME-EXIT 0" in out and "OUTPUT {'n': 12582912}" in out, out
