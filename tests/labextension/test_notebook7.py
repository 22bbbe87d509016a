"""The nbflow extension in Notebook 7, where its pieces make sense: the sidebar and the run view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import JupyterServer, artifact, start_jupyter, stop_jupyter

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One ``jupyter notebook`` (7) for the tests of this module."""
    server = start_jupyter("notebook", tmp_path_factory.mktemp("notebook"))
    yield server
    stop_jupyter(server)


def show_sidebar(page: Any) -> Any:
    """The Pipelines sidebar, shown with its keyboard shortcut (Notebook 7 hides side panels)."""
    page.keyboard.press("Control+Alt+p")
    sidebar = page.locator("#nbflow-pipelines")
    sidebar.wait_for()
    return sidebar


def test_file_browser_page_lists_runs_and_shows_a_run(page: Any, notebook: JupyterServer) -> None:
    from playwright.sync_api import expect

    run_id = notebook.start_run("demo.ipynb")
    notebook.wait_run(run_id)
    page.goto(f"{notebook.url}/tree")
    page.wait_for_selector(".jp-DirListing-item")
    sidebar = show_sidebar(page)
    item = sidebar.locator(f".jp-nbflow-RunItem[data-run='{run_id}']")
    expect(item).to_have_attribute("data-phase", "Failed")
    item.click()
    # the run view opens as a tab of the file browser page, beside "Files" and "Running"
    tab = page.locator(".lm-TabBar-tab", has_text=f"Run {run_id}")
    expect(tab).to_have_class("lm-TabBar-tab lm-mod-closable lm-mod-current")
    view = page.locator(f"#nbflow-run-{run_id}")
    boom = view.locator("g.nbflow-node[data-task='boom']")
    expect(boom).to_have_attribute("data-phase", "Failed")
    view.locator("g.nbflow-node[data-task='fan']").click()
    expect(view.locator(".nbflow-pane[data-task='fan']")).to_contain_text("Items (3)")
    page.screenshot(path=str(artifact("notebook7-tree-run-view.png")))


def test_notebook_page_runs_from_sidebar(page: Any, notebook: JupyterServer) -> None:
    from playwright.sync_api import expect

    page.goto(f"{notebook.url}/notebooks/quickstart.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    sidebar = show_sidebar(page)
    workflow = sidebar.locator(".jp-nbflow-Workflow[data-workflow='quickstart']")
    workflow.locator("button.jp-nbflow-run").click()
    # the notebook keeps the main area; the run view opens in the right side panel
    view = page.locator("#jp-right-stack .jp-nbflow-RunView")
    expect(view.locator(".nbflow-title .nbflow-badge")).to_have_attribute(
        "data-phase", "Succeeded", timeout=120_000
    )
    expect(view.locator("g.nbflow-node")).to_have_count(4)
    run_id = (view.get_attribute("id") or "").removeprefix("nbflow-run-")
    badge = page.locator(".jp-nbflow-CellBadge[data-template='summarize']")
    expect(badge).to_contain_text(f"run {run_id}")
    expect(badge).to_have_attribute("data-phase", "Succeeded")
    page.screenshot(path=str(artifact("notebook7-notebook-run-view.png")))
