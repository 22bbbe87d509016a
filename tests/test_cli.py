"""The ``nbflow`` command as a user runs it: a real process, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml


def nbflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbflow.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.kernel
def test_run_succeeds_prints_progress_and_workflow(make_notebook: Any, nbflow_home: Path) -> None:
    path = make_notebook("chain")
    proc = nbflow("run", str(path), "-p", "scale=0.5", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    wf = json.loads(proc.stdout)
    assert wf["kind"] == "Workflow" and wf["status"]["phase"] == "Succeeded"
    run_id = wf["metadata"]["name"]
    assert f"run {run_id} started" in proc.stderr
    assert "second" in proc.stderr and "Succeeded" in proc.stderr
    status = nbflow("status", run_id, "-o", "yaml")
    assert (
        status.returncode == 0 and yaml.safe_load(status.stdout)["status"]["phase"] == "Succeeded"
    )
    summary = nbflow("status")
    assert summary.returncode == 0 and f"run {run_id}: Succeeded" in summary.stdout
    logs = nbflow("logs", run_id, "third")
    assert logs.returncode == 0 and "y=2.0" in logs.stdout
    listing = nbflow("list")
    assert run_id in listing.stdout


@pytest.mark.kernel
def test_run_failure_exit_1_names_error_and_notebook(make_notebook: Any, nbflow_home: Path) -> None:
    path = make_notebook("failing")
    proc = nbflow("run", str(path), "--workflow", "failing")
    assert proc.returncode == 1
    assert "boom failed: ZeroDivisionError: division by zero" in proc.stderr
    notebook = next(
        line.split(": ", 1)[1] for line in proc.stderr.splitlines() if "executed notebook:" in line
    )
    assert Path(notebook).is_file() and "ZeroDivisionError" in Path(notebook).read_text()
    assert "Traceback" not in proc.stderr
    logs = nbflow("logs", "-", "boom")
    assert "x = 1 / 0" in logs.stdout and "ZeroDivisionError: division by zero" in logs.stdout
    status = nbflow("status", "-")
    assert status.returncode == 0 and "boom" in status.stdout, status.stderr
    retry = nbflow("retry", "-")
    assert retry.returncode == 1 and "boom failed: ZeroDivisionError" in retry.stderr


@pytest.mark.kernel
def test_compile_then_run_the_manifest(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path, validate_manifest: Any
) -> None:
    path = make_notebook("chain")
    out = tmp_path / "chain.yaml"
    proc = nbflow("compile", str(path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = yaml.safe_load(out.read_text())
    validate_manifest(manifest)
    run = nbflow("run", str(out), "-p", "scale=2", "-o", "json", cwd=path.parent)
    assert run.returncode == 0, run.stderr
    wf = json.loads(run.stdout)
    second = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "second")
    assert {"name": "y", "value": "8.0"} in second["outputs"]["parameters"]


BAD_INPUTS = [
    (
        ["%%template a\nx = 1", "%%template b\ny = 2", "%%workflow w\na >> b >> a"],
        "dependency cycle: a >> b >> a",
    ),
    (["%%template a\nx = 1", "%%workflow w\na >> nope"], "unknown template 'nope'"),
    (
        ["%%template a --inputs raw\nx = raw", "%%workflow w\na"],
        "needs 'raw', but no upstream task",
    ),
    (["%%template a\nx = 1", "%%template a\nx = 2", "%%workflow w\na"], "defined twice"),
    (["%%template Bad\nx = 1", "%%workflow Wf\nBad"], "not a valid Kubernetes name"),
    (
        ["%%template a --retries x\nx = 1", "%%workflow w\na"],
        "--retries: expected an integer, got 'x'",
    ),
    (["%%template a\nx = 1", "%%workflow w\na >> (b"], "line 2, column"),
    (["%%template a --param k=1\nx = k", "%%workflow w\na(j=2)"], "has no parameter 'j'"),
]


@pytest.mark.parametrize(("cells", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(
    make_notebook: Any, nbflow_home: Path, cells: list[str], message: str
) -> None:
    proc = nbflow("run", str(make_notebook(cells)))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stderr.startswith("nbflow: error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_unknown_run_parameter_is_exit_2(make_notebook: Any, nbflow_home: Path) -> None:
    proc = nbflow("run", str(make_notebook("chain")), "-p", "nope=1")
    assert (
        proc.returncode == 2
        and "no template of workflow 'chain' has a parameter 'nope'" in proc.stderr
    )


def test_usage_errors_are_exit_2(nbflow_home: Path, tmp_path: Path) -> None:
    assert nbflow("run").returncode == 2
    proc = nbflow("run", str(tmp_path / "missing.ipynb"))
    assert (
        proc.returncode == 2 and "missing.ipynb" in proc.stderr and "Traceback" not in proc.stderr
    )
    proc = nbflow("status", "no-such-run")
    assert proc.returncode == 2 and "no run 'no-such-run'" in proc.stderr


def test_manifest_with_foreign_templates_is_refused_before_running(
    tmp_path: Path, nbflow_home: Path
) -> None:
    wf = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "x-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "container": {"image": "alpine", "command": ["sh", "-c", "echo hi"]},
                }
            ],
        },
    }
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(wf))
    proc = nbflow("run", str(path))
    assert proc.returncode == 2
    assert "runs sh -c echo hi in image 'alpine'" in proc.stderr
    assert not (nbflow_home / "runs").exists()  # nothing started


def test_lint_reports_names_from_plain_cells(make_notebook: Any) -> None:
    path = make_notebook(
        ["import json", "%%template a --outputs x\nx = json.dumps(1)", "%%workflow w\na"]
    )
    proc = nbflow("lint", str(path))
    assert proc.returncode == 0
    assert (
        "`json` is defined only in cell 1: move it into a %%setup cell or declare it as an input"
        in proc.stderr
    )


def test_bad_settings_are_one_line_and_exit_2(
    make_notebook: Any, nbflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = make_notebook("chain")
    monkeypatch.setenv("NBFLOW_ENGINE", "bogus")
    proc = nbflow("run", str(nb))
    assert proc.returncode == 2, proc.stderr
    assert "NBFLOW_ENGINE is 'bogus': use 'fast' or 'papermill'" in proc.stderr
    assert "Traceback" not in proc.stderr
    monkeypatch.delenv("NBFLOW_ENGINE")
    conf = tmp_path / "jupyter-config"
    conf.mkdir()
    (conf / "nbflow_config.py").write_text("c.NbflowConfig.max_workers = 'many'\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(conf))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(conf))
    proc = nbflow("run", str(nb))
    assert proc.returncode == 2, proc.stderr
    assert "invalid nbflow setting" in proc.stderr and "max_workers" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.kernel
def test_list_newest_first_with_filters_and_delete(make_notebook: Any, nbflow_home: Path) -> None:
    from nbflow.actions import run_notebook

    ok = run_notebook(make_notebook("chain"), wait=True)
    failed = run_notebook(make_notebook("failing", "f.ipynb"), workflow="failing", wait=True)
    listing = nbflow("list")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [failed.id, ok.id]
    assert lines[1].split()[1:3] == ["Succeeded", "3/3"] and lines[1].endswith("pipeline.ipynb")
    only = nbflow("list", "--phase", "Failed")
    assert [line.split()[0] for line in only.stdout.splitlines()] == [failed.id]
    assert nbflow("list", "-w", "chain", "-n", "1").stdout.split()[0] == ok.id
    deleted = nbflow("delete", failed.id)
    assert deleted.returncode == 0 and deleted.stderr == f"deleted run {failed.id}\n"
    assert not (nbflow_home / "runs" / failed.id).exists()
    again = nbflow("delete", failed.id)
    assert again.returncode == 2 and again.stderr.startswith(f"nbflow: error: no run '{failed.id}'")
