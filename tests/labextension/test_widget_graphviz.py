"""Graphviz/WebAssembly for the widget's in-browser layout: the Lab extension's static file when
the extension is there, else a message from the kernel; never the notebook's widget state."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import artifact, start_jupyter, stop_jupyter

pytestmark = pytest.mark.kernel


def settle(page: Any) -> None:
    """Wait until the kernel is idle and no "Select Kernel" dialog has shown for 2 s (Lab may
    ask for the kernel the notebook names, even after starting it, on a busy machine)."""
    select = page.locator(".jp-Dialog button.jp-mod-accept", has_text="Select")
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    calm = 0
    deadline = time.monotonic() + 60
    while calm < 4 and time.monotonic() < deadline:
        if select.count():
            select.click()
            calm = 0
        elif idle.count():
            calm += 1
        time.sleep(0.5)


def run_all_cells(page: Any, last_output: str) -> None:
    """Run > Run All Cells until the last cell prints ``last_output``; again if the kernel
    dropped the request (a kernel chosen again drops what was queued)."""
    for _ in range(3):
        settle(page)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.locator(".jp-OutputArea-output", has_text=last_output).wait_for(timeout=60_000)
            return
        except Exception:  # playwright's TimeoutError
            continue
    pytest.fail("the notebook did not run to its end (Run > Run All Cells)")


@pytest.mark.parametrize("extension", ["enabled", "disabled"])
def test_browser_layout_loads_graphviz_outside_the_notebook(
    browser: Any, tmp_path: Path, extension: str
) -> None:
    from playwright.sync_api import expect

    disabled = ("nbflow",) if extension == "disabled" else ()
    server = start_jupyter("lab", tmp_path, disabled=disabled)
    widgets = tmp_path / "lab-settings" / "@jupyter-widgets" / "jupyterlab-manager"
    widgets.mkdir(parents=True)
    (widgets / "plugin.jupyterlab-settings").write_text('{"saveState": true}')
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(90_000)
    static: list[str] = []
    page.on("request", lambda r: static.append(r.url) if "viz-standalone" in r.url else None)
    try:
        page.goto(f"{server.url}/lab/tree/demo.ipynb")  # a new server: an empty workspace
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        assert page.locator(".jp-SideBar [data-id='nbflow-pipelines']").count() == (
            1 if extension == "enabled" else 0
        )
        run_all_cells(page, "run ended: Failed")
        second = page.locator(".nbflow").nth(1)  # nbflow.show(run, layout_engine="browser")
        expect(second).to_have_attribute("data-layout", "browser")
        expect(second.locator("g.nbflow-node[data-task='boom']")).to_have_attribute(
            "data-phase", "Failed"
        )
        page.screenshot(path=str(artifact(f"widget-graphviz-extension-{extension}.png")))
        if extension == "enabled":  # one static file of the extension, fetched once
            assert len(static) == 1 and "/lab/extensions/nbflow/static/" in static[0], static
        else:  # from the kernel, in a message
            assert static == [], static
        # saved with the widgets' state: no Graphviz inside
        page.keyboard.press("Control+s")
        page.wait_for_selector(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)")
        saved = (server.root / "demo.ipynb").read_text()
        state = json.loads(saved)["metadata"]["widgets"]
        assert "application/vnd.jupyter.widget-state+json" in state
        assert "Viz.js" not in saved and len(saved) < 300_000, len(saved)
    except Exception:
        page.screenshot(path=str(artifact(f"widget-graphviz-extension-{extension}-failure.png")))
        raise
    finally:
        page.close()
        stop_jupyter(server)
