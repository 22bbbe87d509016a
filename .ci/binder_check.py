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
sys.path.insert(0, str(REPO / "tests" / "labextension"))

from conftest import CHROMIUM, CHROMIUM_ARGS, start_all_cells  # noqa: E402 (the browser tests')

# each notebook: the workflow it runs, and how many runs of it it leaves in the home
GALLERY = {
    "quickstart": ("quickstart", 1), "etl": ("etl", 2), "ml": ("sweep", 1),
    "parameters": ("grid", 2), "approval": ("release", 1), "caching": ("signal", 3),
    "scheduling": ("nightly", 1), "cluster": ("powers", 1), "s3": ("regions", 1),
}
AT_ONCE = 3  # notebooks running at the same time, each in a page of its own
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
    for wf in records:  # one another notebook has just created has no status yet
        wf.setdefault("status", {})
    return sorted(records, key=lambda wf: wf["status"].get("startedAt") or "")


def start_notebook(page: Any, url: str, name: str) -> None:
    """Open ``notebooks/NAME.ipynb`` and Run All Cells (again if the kernel dropped it, or
    once more after closing a dialog JupyterLab opened by itself, which is reported)."""
    page.goto(f"{url}/lab/workspaces/{name}/tree/notebooks/{name}.ipynb")  # a layout each
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    page.set_default_timeout(20_000)  # a click a dialog covers fails soon
    try:
        for _ in range(2):
            close_dialogs(page, name)
            try:
                if start_all_cells(page):
                    return
            except Exception as exc:
                print(f"binder-check: {name}.ipynb: {type(exc).__name__}: "
                      f"{str(exc).splitlines()[0]}")
        close_dialogs(page, name)
        fail(f"{name}.ipynb: JupyterLab did not start running its cells")
    finally:
        page.set_default_timeout(90_000)


def close_dialogs(page: Any, name: str) -> None:
    """Close a dialog in the way, saying what it said (with a picture of the page)."""
    dialogs = page.locator(".jp-Dialog")
    if not dialogs.count():
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{name}-dialog.png"
    page.screenshot(path=str(shot))
    said = " | ".join(" ".join(t.split()) for t in dialogs.all_text_contents())
    print(f"binder-check: {name}.ipynb: JupyterLab showed a dialog: {said!r} (see {shot}); "
          "closing it")
    page.keyboard.press("Escape")
    dialogs.first.wait_for(state="detached", timeout=10_000)


def finished(page: Any, name: str) -> bool:
    """Whether the notebook's last cell has run; fails on a cell's error."""
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    if (prompts.last.text_content() or "").strip()[1:-2].isdigit():
        return True
    errors = page.locator(STDERR, has_text="Traceback")
    if errors.count() and all((p.text_content() or "").strip() != "[*]:" for p in prompts.all()):
        fail(f"{name}.ipynb: a cell failed:\n{(errors.first.text_content() or '')[-2000:]}")
    return False


def check_runs(name: str, home: Path) -> None:
    """The notebook left the runs it should, all succeeded."""
    workflow, count = GALLERY[name]
    phases = [wf["status"].get("phase") for wf in runs(home)
              if wf["metadata"]["name"].startswith(f"{workflow}-")]
    if len(phases) != count or set(phases) != {"Succeeded"}:
        fail(f"{name}.ipynb: expected {count} succeeded runs of {workflow}, got {phases}")


def run_batch(context: Any, url: str, names: list[str], home: Path) -> None:
    """Run ``names`` at the same time, each in a page of its own; check each, keep a picture."""
    started = time.monotonic()
    pages = {}
    for name in names:
        page = context.new_page()
        page.set_default_timeout(90_000)
        start_notebook(page, url, name)
        pages[name] = page
    waiting = set(names)
    while waiting and time.monotonic() - started < 300:
        for name in sorted(waiting):
            if finished(pages[name], name):
                waiting.discard(name)
                check_runs(name, home)
                SHOTS.mkdir(parents=True, exist_ok=True)
                graphs = pages[name].locator(".jp-Notebook .nbflow")
                if graphs.count():  # the live graph of its first run, alone too
                    graphs.first.scroll_into_view_if_needed()
                    graphs.first.screenshot(path=str(SHOTS / f"{name}-graph.png"))
                pages[name].screenshot(path=str(SHOTS / f"{name}.png"))
                print(f"binder-check: {name}.ipynb ran in Lab "
                      f"({time.monotonic() - started:.1f} s after its batch started)")
        time.sleep(0.5)
    if waiting:
        fail(f"{', '.join(sorted(waiting))} did not run to their end in 300 s")
    for page in pages.values():
        page.close()


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
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(90_000)
                page.goto(f"{url}/{URLPATH}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                if not page.locator(".jp-SideBar [data-id='nbflow-pipelines']").count():
                    fail("the nbflow Pipelines sidebar is missing: the Lab extension did not load")
                print("binder-check: the quickstart opens, with nbflow's Pipelines sidebar")
                page.close()
                for i in range(0, len(names), AT_ONCE):
                    run_batch(context, url, names[i:i + AT_ONCE], home)
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
