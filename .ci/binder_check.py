"""Drive the Binder environment like a visitor: ``binder_check.py VENV [NOTEBOOK ...]``.

Starts ``jupyter lab`` from VENV (the environment built from ``binder/`` only) on loopback, in a
copy of the repository's ``notebooks/``, opens the page Binder opens (the quickstart), checks
that nbflow's Lab extension is there, then runs each gallery notebook through the UI (Run > Run
All Cells) in Debian's Chromium and checks the runs each left in the nbflow home. Prints what
it checked and how long each step took; exits 1 on the first failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# each notebook, and the number of runs it leaves in its home
GALLERY = {
    "quickstart": 1, "etl": 2, "ml": 1, "parameters": 2, "approval": 1, "caching": 3,
    "scheduling": 1, "cluster": 1, "s3": 1,
}
SHOTS = REPO / "test-output" / "binder"  # git-ignored; the docs show some
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
URLPATH = "lab/tree/notebooks/quickstart.ipynb"  # the README's Binder badge opens this


def fail(message: str) -> None:
    print(f"binder-check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_lab(venv: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``jupyter lab`` of the Binder venv, rooted in a copy of the repository's notebooks."""
    root = tmp / "repo"
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBFLOW_", "AWS_"))}
    env.update(
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
        HOME=str(tmp / "home"), NBFLOW_HOME=str(tmp / "nbflow-home"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
    )
    port = free_port()
    log = open(tmp / "lab.log", "wb")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen(
        [str(venv / "bin" / "jupyter"), "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"jupyter lab exited:\n{(tmp / 'lab.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=5):
                return proc, url, tmp / "nbflow-home"
        except OSError:
            time.sleep(0.3)
    fail("jupyter lab did not answer in 90 s")
    raise AssertionError


def runs(home: Path) -> list[dict[str, Any]]:
    """The run records of the home, oldest first."""
    records = [json.loads(p.read_text()) for p in (home / "runs").glob("*/workflow.json")]
    return sorted(records, key=lambda wf: wf["status"].get("startedAt") or "")


def run_notebook(page: Any, url: str, name: str, home: Path) -> None:
    """Open ``notebooks/NAME.ipynb``, Run All Cells, wait until its last cell has run."""
    before = len(runs(home))
    page.goto(f"{url}/lab/tree/notebooks/{name}.ipynb?reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    for _ in range(3):  # a kernel still starting may drop the request: ask again
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and prompts.first.text_content().strip() in ("[ ]:", ""):
            time.sleep(0.25)
        if prompts.first.text_content().strip() not in ("[ ]:", ""):
            break
    deadline = time.monotonic() + 240
    last = prompts.last
    while time.monotonic() < deadline:
        text = (last.text_content() or "").strip()
        if text[1:-2].isdigit():
            break
        errors = page.locator(STDERR, has_text="Traceback")
        if errors.count() and all((p.text_content() or "").strip() != "[*]:"
                                  for p in prompts.all()):
            fail(f"{name}.ipynb: a cell failed:\n{errors.first.text_content()[-2000:]}")
        time.sleep(0.5)
    else:
        fail(f"{name}.ipynb did not run to its end in 240 s")
    new = runs(home)[before:]
    phases = [wf["status"]["phase"] for wf in new]
    if len(new) != GALLERY[name] or set(phases) != {"Succeeded"}:
        fail(f"{name}.ipynb: expected {GALLERY[name]} succeeded runs, got {phases}")


def main() -> int:
    from playwright.sync_api import sync_playwright

    venv = Path(sys.argv[1]).resolve()
    names = sys.argv[2:] or list(GALLERY)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="binder-check-") as tmp:
        proc, url, home = start_lab(venv, Path(tmp))
        print(f"binder-check: jupyter lab up in {time.monotonic() - started:.1f} s")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(90_000)
                page.goto(f"{url}/{URLPATH}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                if not page.locator(".jp-SideBar [data-id='nbflow-pipelines']").count():
                    fail("the nbflow Pipelines sidebar is missing: the Lab extension did not load")
                print("binder-check: the quickstart opens, with nbflow's Pipelines sidebar")
                for name in names:
                    t0 = time.monotonic()
                    run_notebook(page, url, name, home)
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    graphs = page.locator(".jp-Notebook .nbflow")
                    if graphs.count():
                        graphs.first.scroll_into_view_if_needed()
                    page.screenshot(path=str(SHOTS / f"{name}.png"))
                    print(f"binder-check: {name}.ipynb ran in Lab ({time.monotonic() - t0:.1f} s)")
                browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"binder-check: every notebook ran ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
