"""A real ``jupyter lab`` / ``jupyter notebook`` on loopback, with nbflow's server and Lab
extensions as ``pip install`` enabled them, and Debian's Chromium driven by Playwright (never
``playwright install``)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 60_000
NOTEBOOKS = {
    "quickstart.ipynb": REPO / "notebooks" / "quickstart.ipynb",
    "demo.ipynb": REPO / "tests" / "widget" / "notebooks" / "demo.ipynb",
}
FINAL = ("Succeeded", "Failed", "Error")


@dataclass
class JupyterServer:
    """A running server: its URL, root folder, nbflow home and log; JSON requests to it."""

    url: str
    root: Path
    home: Path
    log: Path
    proc: subprocess.Popen[bytes]
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def _read(self, request: urllib.request.Request) -> bytes:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        with opener.open(request, timeout=30) as resp:
            return bytes(resp.read())

    def _open(self, request: urllib.request.Request) -> Any:
        body = self._read(request)
        return json.loads(body) if body else None

    def get(self, path: str) -> Any:
        """JSON of ``GET <url>/<path>``."""
        return self._open(urllib.request.Request(f"{self.url}/{path}"))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """JSON of ``POST <url>/<path>``, with the XSRF cookie jupyter_server asks for."""
        if not any(c.name == "_xsrf" for c in self.jar):
            self._read(urllib.request.Request(f"{self.url}/lab"))  # sets the _xsrf cookie
        xsrf = next(c.value for c in self.jar if c.name == "_xsrf")
        request = urllib.request.Request(
            f"{self.url}/{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-XSRFToken": xsrf},
        )
        return self._open(request)

    def start_run(self, notebook: str, **parameters: str) -> str:
        """Start a notebook's workflow through the REST API (no kernel); its run id."""
        body = {"notebook": notebook, "workflow": None, "parameters": parameters}
        return str(self.post("nbflow/api/runs", body)["id"])

    def wait_run(self, run_id: str, timeout_s: float = 120) -> dict[str, Any]:
        """The summary of run ``run_id`` once it is over."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            summary = self.get(f"nbflow/api/runs/{run_id}")["summary"]
            if summary["phase"] in FINAL and not summary.get("live"):
                return dict(summary)
            time.sleep(0.3)
        pytest.fail(f"run {run_id} did not end in {timeout_s}s:\n{self.log.read_text()[-3000:]}")


def _wait_url(proc: subprocess.Popen[bytes], runtime: Path, log: Path, timeout_s: float) -> str:
    """The URL of the server ``proc`` once it answers: read from the file that it writes in
    its runtime folder (it chose its port: a port chosen here could be taken meanwhile)."""
    deadline = time.monotonic() + timeout_s
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        if url is None:
            found = runtime / f"jpserver-{proc.pid}.json"
            if found.exists():
                url = json.loads(found.read_text())["url"].rstrip("/")
        if url is not None:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    return url
            except OSError:
                pass
        time.sleep(0.3)
    pytest.fail(f"jupyter did not answer in {timeout_s}s:\n{log.read_text()[-3000:]}")


def start_jupyter(app: str, tmp: Path, disabled: tuple[str, ...] = ()) -> JupyterServer:
    """``jupyter lab`` or ``jupyter notebook`` on loopback without token, rooted in ``tmp/root``
    (holding the quickstart and the demo notebook), with its own nbflow home and settings;
    a folder that already has them (a server ran there) is used as it is. ``disabled`` names
    Lab extensions to turn off."""
    root = tmp / "root"
    home = tmp / "nbflow-home"
    settings = tmp / "lab-settings"
    if not root.exists():
        root.mkdir(parents=True)
        for name, source in NOTEBOOKS.items():
            shutil.copy(source, root / name)
        news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True)
        news.write_text('{"fetchNews": "false"}')  # no "Jupyter news?" toast over the page
    if disabled:
        page_config = tmp / "config" / "labconfig" / "page_config.json"
        page_config.parent.mkdir(parents=True, exist_ok=True)
        page_config.write_text(json.dumps({"disabledExtensions": dict.fromkeys(disabled, True)}))
    env = dict(os.environ)
    env.update(
        NBFLOW_HOME=str(home),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
    )
    env.pop("NBFLOW_ARTIFACT_ROOT", None)
    log = tmp / f"{app}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root",
                "--port=0", "--ServerApp.ip=127.0.0.1", "--ServerApp.token=",
                "--ServerApp.password=", f"--ServerApp.root_dir={root}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
        )
    url = _wait_url(proc, tmp / "runtime", log, 60)
    return JupyterServer(url, root, home, log, proc)


def stop_jupyter(server: JupyterServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One ``jupyter lab`` for the tests of a module (each test opens its own workspace)."""
    server = start_jupyter("lab", tmp_path_factory.mktemp("lab"))
    yield server
    stop_jupyter(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (its own browser context); a screenshot is kept when the test fails."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.nbflow_errors = errors
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        page.screenshot(path=str(artifact(f"{request.node.name}-failure.png")), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def start_all_cells(page: Any) -> bool:
    """Run > Run All Cells in the open notebook; again (3 times at most) while its first code
    cell does not start (a kernel still starting may drop the request). Whether it started."""
    first = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first
    for _ in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if (first.text_content() or "").strip() not in ("[ ]:", ""):
                return True
            time.sleep(0.25)
    return False


def artifact(name: str) -> Path:
    """A path under ``test-output/labextension/`` (git-ignored) for screenshots."""
    folder = REPO / "test-output" / "labextension"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def workspace(name: str) -> str:
    """A new Lab workspace name: each test starts from an empty layout."""
    return f"{name}-{time.monotonic_ns()}"
