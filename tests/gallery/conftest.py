"""The gallery's notebooks, each executed in a real kernel (nbclient) in a copy of
``notebooks/`` with an nbflow home of its own; the executions run in parallel processes,
started once for the session, while the terminal tests run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..s3.conftest import MotoServer

REPO = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = REPO / "notebooks"
GALLERY = (
    "quickstart", "etl", "ml", "parameters", "approval", "caching", "scheduling", "cluster", "s3",
)
EXECUTE = Path(__file__).parent / "execute.py"
NBFLOW = str(Path(sys.executable).parent / "nbflow")
PARALLEL = max(1, min(3, len(os.sched_getaffinity(0))))


def copy_gallery(where: Path) -> Path:
    """A copy of ``notebooks/`` (what the notebooks write stays out of the checkout)."""
    shutil.copytree(NOTEBOOKS, where, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return where


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment with ``NBFLOW_HOME=home`` and nothing of S3 or webhooks."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "NBFLOW_WEBHOOK_", "NBFLOW_ARTIFACT"))
    }
    env["NBFLOW_HOME"] = str(home)
    return env


@dataclass
class Executed:
    """A gallery notebook run in a kernel: the executed notebook, its home, the process."""

    name: str
    workdir: Path
    home: Path
    notebook: dict[str, Any]
    returncode: int
    stderr: str

    def text(self) -> str:
        """Every text output of the executed notebook, in order."""
        parts = []
        for cell in self.notebook["cells"]:
            for out in cell.get("outputs") or []:
                if "text" in out:
                    parts.append("".join(out["text"]))
                if "text/plain" in (out.get("data") or {}):
                    parts.append("".join(out["data"]["text/plain"]))
        return "\n".join(parts)

    def runs(self) -> list[dict[str, Any]]:
        """The run records of its home (``workflow.json``), oldest first."""
        from nbflow.engine.store import RunStore

        store = RunStore(self.home / "runs")
        return [store.load(name)[0] for name in store.names()]


def _execute(name: str, base: Path) -> Executed:
    workdir = copy_gallery(base / "notebooks")
    home = base / "home"
    out = base / f"{name}.out.ipynb"
    proc = subprocess.run(
        [sys.executable, str(EXECUTE), f"{name}.ipynb", str(out)], cwd=workdir,
        env=clean_env(home), capture_output=True, text=True, timeout=600,
    )
    notebook = json.loads(out.read_text()) if out.exists() else {"cells": []}
    return Executed(name, workdir, home, notebook, proc.returncode, proc.stderr)


@pytest.fixture(scope="session")
def kernel_runs(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, Future[Executed]]]:
    """The gallery notebooks whose kernel test is selected, executing in kernels a few at a
    time (from the first test of the module on, so that they overlap the terminal tests)."""
    selected = {item.name[len("test_"):-len("_kernel")] for item in request.session.items
                if item.name.startswith("test_") and item.name.endswith("_kernel")}
    pool = ThreadPoolExecutor(max_workers=PARALLEL)
    futures = {
        name: pool.submit(_execute, name, tmp_path_factory.mktemp(f"kernel-{name}"))
        for name in GALLERY if name in selected
    }
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def finished(kernel_runs: dict[str, Future[Executed]], name: str) -> Executed:
    """The kernel execution of gallery notebook ``name``, asserted to have run every cell."""
    result = kernel_runs[name].result(timeout=900)
    assert result.returncode == 0, f"{name}.ipynb failed in the kernel:\n{result.stderr}"
    return result


@dataclass
class S3Server:
    """moto's S3 API server on loopback, and an s3fs client of it."""

    endpoint: str
    fs: Any


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3 API server (moto) on 127.0.0.1 for the gallery's tests."""
    import logging

    import s3fs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = MotoServer()
    server.start()
    fs = s3fs.S3FileSystem(key="gallery", secret="gallery", endpoint_url=server.endpoint,
                           skip_instance_cache=True)
    yield S3Server(server.endpoint, fs)
    server.stop()
