"""A real Jupyter server with nbflow's extension (pytest-jupyter's ``jp_fetch``/``jp_ws_fetch``),
a private nbflow home, and real runs made once per session on tiny notebooks."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

# pytest-jupyter's fixtures and hooks, for the tests of this folder only: they include autouse
# fixtures (an event loop and the server's cleanup) that the rest of the suite does not want.
from pytest_jupyter.jupyter_server import *  # noqa: F403
from tornado.httpclient import HTTPClientError


def _pipelines() -> dict[str, list[str]]:
    """The suite's pipelines (tests/conftest.py; the tests are not a package)."""
    name = "nbflow_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parents[1] / "conftest.py"
        )
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name].PIPELINES  # type: ignore[no-any-return]


PIPELINES = _pipelines()
Json = Any
# Every test must finish: a bound on waiting for background work, never a speed assertion.
WAIT_S = 90.0

# Pipelines of the server's tests, besides tests/conftest.py's.
SERVER_PIPELINES: dict[str, list[str]] = {
    # waits for a file to appear in its folder, so that a test decides when it may finish
    "gated": [
        "%%template start --outputs n\nn = 1",
        "%%template wait --inputs n --outputs done\n"
        "import time\nfrom pathlib import Path\n"
        "while not Path('go.flag').exists():\n    time.sleep(0.05)\ndone = n + 1",
        "%%workflow gated\nstart >> wait",
    ],
    # fails until a file appears in its folder
    "flaky": [
        "%%template check --outputs ok\nfrom pathlib import Path\nok = Path('ok.flag').read_text()",
        "%%template after --inputs ok\nprint('after', ok)",
        "%%workflow flaky\ncheck >> after",
    ],
}


@pytest.fixture(autouse=True)
def _home(nbflow_home: Path) -> Path:
    """Every server test gets its own nbflow home, set before the server starts."""
    return nbflow_home


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """The server loads nbflow's extension and polls the run store often."""
    return {
        "ServerApp": {"jpserver_extensions": {"nbflow.server": True}},
        "NbflowExtension": {"poll_interval_s": 0.1, "batch_interval_s": 0.05, "warm_servers": 1},
    }


@pytest.fixture
def pipelines() -> dict[str, list[str]]:
    """The cells of the suite's pipelines, by name."""
    return {**PIPELINES, **SERVER_PIPELINES}


@pytest.fixture
def notebook(make_notebook: Any, jp_root_dir: Path) -> Callable[..., Path]:
    """Write a pipeline notebook (a name of PIPELINES/SERVER_PIPELINES, or cells) in the root."""

    def make(cells: str | list[str], name: str = "pipeline.ipynb") -> Path:
        if isinstance(cells, str):
            cells = SERVER_PIPELINES.get(cells) or PIPELINES[cells]
        return make_notebook(cells, name, folder=jp_root_dir)  # type: ignore[no-any-return]

    return make


@pytest.fixture
def call(jp_fetch: Any) -> Callable[..., Awaitable[tuple[int, Json]]]:
    """``await call(method, "runs", run, ..., body=..., params=...)`` → ``(status, JSON)``
    under ``nbflow/api``; errors are returned, not raised."""

    async def fetch(
        method: str,
        *parts: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Json]:
        kwargs: dict[str, Any] = {"method": method, "params": params, "headers": headers}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = ""
        try:
            response = await jp_fetch("nbflow", "api", *parts, **kwargs)
        except HTTPClientError as exc:
            assert exc.response is not None, exc
            return exc.code, json.loads(exc.response.body or b"null")
        text = response.body.decode()
        if response.headers.get("Content-Type", "").startswith("application/json") and text:
            return response.code, json.loads(text)
        return response.code, text

    return fetch


@pytest.fixture
def until() -> Callable[..., Awaitable[Any]]:
    """``await until(check)``: poll an (async) check without blocking the server's loop."""

    async def wait(check: Callable[[], Any], what: str = "", timeout_s: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"gave up waiting for {what or check}")

    return wait


@pytest.fixture
def run_phase(call: Any) -> Callable[[str], Awaitable[tuple[str, dict[str, Any]]]]:
    """``await run_phase(run)`` → the run's phase and its task nodes' phases, from the API."""

    async def phase(run_id: str) -> tuple[str, dict[str, Any]]:
        status, data = await call("GET", "runs", run_id, "graph")
        assert status == 200, data
        return data["info"]["phase"], {k: v["phase"] for k, v in data["nodes"].items()}

    return phase


# ---------------------------------------------------------------------- past runs


@pytest.fixture(scope="session")
def _past_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real runs made once: ``chain`` (Succeeded), ``failing`` (Failed), ``fanout`` (mapped)."""
    import nbformat

    from nbflow.actions import run_notebook
    from nbflow.config import load_config

    base = tmp_path_factory.mktemp("past")
    home = base / "home"
    config = load_config(home=str(home), artifact_root=(home / "artifacts").as_uri())
    for name in ("chain", "failing", "fanout"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in PIPELINES[name]]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        path = base / "notebooks" / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        workflow = "failing" if name == "failing" else None
        run = run_notebook(path, workflow=workflow, config=config, wait=True)
        assert run.phase == ("Failed" if name == "failing" else "Succeeded"), run.report()
        time.sleep(0.01)  # distinct record times: the list's order is the order made
    return home


@pytest.fixture
def past_runs(_past_home: Path, nbflow_home: Path) -> dict[str, str]:
    """A copy of the session's runs in this test's home: workflow name → run id."""
    # pods/ holds the steps' scratch folders, which a helper process may still be deleting
    shutil.copytree(
        _past_home, nbflow_home, ignore=shutil.ignore_patterns("pods"), dirs_exist_ok=True
    )
    out = {}
    for settings_file in sorted((nbflow_home / "runs").glob("*/run.json")):
        settings = json.loads(settings_file.read_text())
        settings["artifact_root"] = (nbflow_home / "artifacts").as_uri()
        times = settings_file.stat()
        settings_file.write_text(json.dumps(settings))
        os.utime(settings_file, ns=(times.st_atime_ns, times.st_mtime_ns))
        out[settings["workflow"]] = settings_file.parent.name
    return out
