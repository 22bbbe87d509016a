"""The run graph in a real JupyterLab, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..labextension.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    TIMEOUT_MS,
    start_all_cells,
    start_jupyter,
    stop_jupyter,
)

pytestmark = pytest.mark.kernel


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A jupyter lab server on loopback, without token, rooted in a temporary folder that
    holds the demo notebook; its nbflow home is ``tmp_path/nbflow-home``."""
    server = start_jupyter("lab", tmp_path)
    yield server.url, server.root
    stop_jupyter(server)


def _output_dir(tmp_path: Path) -> Path:
    """``test-output/widget`` of the checkout (git-ignored) when writable, else ``tmp_path``."""
    target = REPO / "test-output" / "widget"
    try:
        target.mkdir(parents=True, exist_ok=True)
        return target
    except OSError:
        return tmp_path


def _run_all_cells(page: Any) -> None:
    """Run > Run All Cells, once the kernel is ready; again if the kernel dropped the request."""
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
    if not start_all_cells(page):
        pytest.fail("JupyterLab did not start running the cells (Run > Run All Cells)")


def _phases(widget: Any) -> dict[str, str]:
    nodes = widget.locator("g.nbflow-node")
    return {
        nodes.nth(i).get_attribute("data-task"): nodes.nth(i).get_attribute("data-phase")
        for i in range(nodes.count())
    }


def test_graph_in_jupyterlab(lab: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, root = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/lab/tree/demo.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            _run_all_cells(page)

            ended = page.locator(".jp-OutputArea-output", has_text="run ended: Failed")
            try:
                ended.wait_for(timeout=90_000)  # the last cell: the run is over
            except Exception:
                shot = _output_dir(tmp_path) / "timeout.png"
                page.screenshot(path=str(shot), full_page=True)
                log = (tmp_path / "lab.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"the notebook did not finish; see {shot}\n{log}")
            widgets = page.locator(".nbflow")
            graph = widgets.first
            expect(graph.locator("g.nbflow-node[data-task='after']")).to_have_attribute(
                "data-phase", "Omitted"
            )
            expect(graph.locator("g.nbflow-node[data-task='fan']")).to_have_attribute(
                "data-phase", "Succeeded"
            )
            assert _phases(graph) == {
                "first": "Succeeded", "fan": "Succeeded", "boom": "Failed", "after": "Omitted",
            }
            fan = graph.locator("g.nbflow-node[data-task='fan'] .nbflow-detail")
            assert "3 items" in fan.text_content()
            # the run started by the kernel is the notebook's: its cells carry the phases
            boom_badge = page.locator(".jp-nbflow-CellBadge[data-template='boom']")
            expect(boom_badge).to_have_attribute("data-phase", "Failed")
            fan_badge = page.locator(".jp-nbflow-CellBadge[data-template='fan']")
            expect(fan_badge).to_have_attribute("data-phase", "Succeeded")
            assert "✖" in graph.locator("g.nbflow-node[data-task='boom']").text_content()

            # the same run, laid out in the browser by Graphviz compiled to WebAssembly
            expect(widgets).to_have_count(2)
            second = widgets.nth(1)
            expect(second).to_have_attribute("data-layout", "browser")
            expect(second.locator("g.nbflow-node[data-task='boom']")).to_have_attribute(
                "data-phase", "Failed"
            )
            assert graph.get_attribute("data-layout") == "kernel"
            # the live widget now offers the engine's retry (the run failed)
            expect(graph.locator("button.nbflow-action-retry")).to_have_count(1)

            # click the failed node: its traceback, then its executed notebook
            graph.locator("g.nbflow-node[data-task='boom']").click()
            pane = graph.locator(".nbflow-pane[data-task='boom']")
            traceback = pane.locator("pre.nbflow-traceback")
            expect(traceback).to_contain_text("ZeroDivisionError")
            expect(pane.locator("pre.nbflow-source")).to_contain_text("x = 1 / 0")
            pane.locator("button.nbflow-open-notebook").click()
            frame = pane.frame_locator("iframe.nbflow-notebook")
            expect(frame.locator("body")).to_contain_text("division by zero")

            shot = _output_dir(tmp_path) / "graph.png"
            graph.scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000

            # a mapped task with a --param: its items and parameters, again after a reload
            graph.locator("g.nbflow-node[data-task='fan']").click()
            _expect_fan_pane(graph)
            page.keyboard.press("Control+s")
            expect(page.locator(".jp-mod-dirty")).to_have_count(0)
            page.reload()
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            graph = page.locator(".nbflow").first
            _expect_fan_pane(graph)  # the widget comes back from the live kernel, pane and all
            page.screenshot(path=str(_output_dir(tmp_path) / "graph-reloaded.png"))
        finally:
            browser.close()


def _expect_fan_pane(graph: Any) -> None:
    """The details pane shows mapped task ``fan``: its 3 items and its parameter."""
    from playwright.sync_api import expect

    pane = graph.locator(".nbflow-pane[data-task='fan']")
    expect(pane.locator(".nbflow-grid .nbflow-cell")).to_have_count(3)
    expect(pane.locator("summary", has_text="Items (3)")).to_have_count(1)
    expect(pane.locator("table.nbflow-kv td", has_text="i")).not_to_have_count(0)


STOPPABLE = [
    "%load_ext nbflow",
    "%%template first --outputs n --param k=0\nn = k",
    "%%template slow --no-run\nimport time\ntime.sleep(600)",
    "%%workflow w\nfirst.map(k=[5, 7]) >> slow",
    "run = %nbflow run w",
    "print('run ended:', run.phase, run.workflow['spec'].get('shutdown'))",
]


def test_stop_a_foreground_run_from_the_widget(lab: tuple[str, Path], tmp_path: Path) -> None:
    """While ``%nbflow run`` executes, a mapped node's details open and Stop stops the run."""
    import nbformat
    from playwright.sync_api import expect, sync_playwright

    url, root = lab
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in STOPPABLE]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "stop.ipynb")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{url}/lab/tree/stop.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            _run_all_cells(page)
            graph = page.locator(".nbflow").first
            slow = graph.locator("g.nbflow-node[data-task='slow']")
            expect(slow).to_have_attribute("data-phase", "Running", timeout=90_000)
            run_prompt = page.locator(".jp-Cell").nth(4).locator(".jp-InputPrompt")
            expect(run_prompt).to_have_text("[*]:")  # the cell is still executing

            # a mapped task (with --param): its items, then one item's parameters
            graph.locator("g.nbflow-node[data-task='first']").click()
            pane = graph.locator(".nbflow-pane[data-task='first']")
            expect(pane.locator("button.nbflow-cell")).to_have_count(2)
            pane.locator("button.nbflow-cell").nth(1).click()
            expect(pane.locator("table.nbflow-kv")).to_contain_text("7")

            graph.locator("button.nbflow-action-stop").click()
            ended = page.locator(".jp-OutputArea-output", has_text="run ended:")
            ended.wait_for(timeout=90_000)
            expect(ended).to_have_text("run ended: Failed Stop")
            expect(slow).to_have_attribute("data-phase", "Failed")
            expect(graph.locator(".nbflow-notice")).to_have_text("")
            shot = tmp_path / "stopped.png"
            graph.scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
            assert not [e for e in errors if "nbflow" in e or "Spread" in e], errors
        finally:
            browser.close()
