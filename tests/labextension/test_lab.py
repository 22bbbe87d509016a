"""The nbflow JupyterLab extension in a real JupyterLab, driven as a user would."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .conftest import JupyterServer, artifact, workspace

pytestmark = pytest.mark.kernel

# Records every phase a run view's nodes take, from the moment it is installed.
WATCH_PHASES = """() => {
  window.nbflowSeen = [];
  new MutationObserver((changes) => {
    for (const c of changes) {
      const el = c.target;
      if (el.closest && el.closest('.jp-nbflow-RunView') && el.matches('g.nbflow-node')) {
        window.nbflowSeen.push([el.dataset.task, el.dataset.phase]);
      }
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-phase']});
}"""


@pytest.fixture(scope="module")
def finished(lab: JupyterServer) -> dict[str, dict[str, Any]]:
    """A finished run of the quickstart (succeeded) and of the demo (failed), by notebook.

    The quickstart's seed is new, so that no step comes from the result cache: ``generate``
    fails once, then succeeds.
    """
    seed = str(time.time_ns() % 1_000_000)
    ids = {"quickstart.ipynb": lab.start_run("quickstart.ipynb", seed=seed)}
    ids["demo.ipynb"] = lab.start_run("demo.ipynb")
    return {nb: lab.wait_run(run) for nb, run in ids.items()}


def open_lab(page: Any, lab: JupyterServer, path: str = "") -> None:
    tree = f"/tree/{path}" if path else ""
    page.goto(f"{lab.url}/lab/workspaces/{workspace('t')}{tree}")
    page.wait_for_selector(".jp-Notebook .jp-Cell" if path else ".jp-DirListing-item")


def open_sidebar(page: Any) -> Any:
    sidebar = page.locator("#nbflow-pipelines")
    if not sidebar.is_visible():
        page.locator(".jp-SideBar [data-id='nbflow-pipelines']").click()
    sidebar.wait_for()
    return sidebar


def open_run(page: Any, run_id: str) -> Any:
    """Open a run's view from the sidebar's list; the view once its graph is drawn."""
    sidebar = open_sidebar(page)
    sidebar.locator(f".jp-nbflow-RunItem[data-run='{run_id}']").click()
    view = page.locator(f"#nbflow-run-{run_id}")
    view.locator("g.nbflow-node").first.wait_for()
    return view


def test_run_quickstart_from_sidebar(page: Any, lab: JupyterServer) -> None:
    from playwright.sync_api import expect

    open_lab(page, lab, "quickstart.ipynb")
    sidebar = open_sidebar(page)
    workflow = sidebar.locator(".jp-nbflow-Workflow[data-workflow='quickstart']")
    expect(workflow).to_contain_text("4 tasks")
    page.evaluate(WATCH_PHASES)
    workflow.locator("button.jp-nbflow-run").click()  # no kernel involved: the server runs it

    view = page.locator(".jp-nbflow-RunView")
    view.locator("g.nbflow-node").first.wait_for()
    run_id = view.get_attribute("id").removeprefix("nbflow-run-")
    first_phase = view.get_attribute("data-phase")
    expect(view.locator(".nbflow-title .nbflow-badge")).to_have_attribute(
        "data-phase", "Succeeded", timeout=120_000
    )
    seen = page.evaluate("window.nbflowSeen")
    assert ["generate", "Running"] in seen, seen  # drawn while it ran, updated live
    assert seen.index(["generate", "Running"]) < seen.index(["generate", "Succeeded"])
    assert first_phase != "Succeeded"
    phases = {
        n.get_attribute("data-task"): n.get_attribute("data-phase")
        for n in view.locator("g.nbflow-node").all()
    }
    assert phases == {name: "Succeeded" for name in ("generate", "summarize", "fit", "report")}
    expect(view.locator("g.nbflow-node[data-task='generate'] .nbflow-detail")).to_have_text(
        "attempt 2/4"
    )

    # the sidebar lists it live, with its notebook; the finish notification links to the view
    item = sidebar.locator(f".jp-nbflow-RunItem[data-run='{run_id}']")
    expect(item).to_have_attribute("data-phase", "Succeeded")
    expect(item).to_contain_text("quickstart.ipynb")
    toast = page.locator(".Toastify__toast", has_text=f"Run {run_id} of quickstart")
    expect(toast).to_contain_text("succeeded")
    page.screenshot(path=str(artifact("lab-run-from-sidebar.png")))
    page.locator(".lm-TabBar-tab", has_text="quickstart.ipynb").click()
    toast.get_by_role("button", name="Open run").click()
    expect(page.locator(f"#nbflow-run-{run_id}")).to_be_visible()
    assert page.nbflow_errors == []


def test_failed_run_notification(page: Any, lab: JupyterServer) -> None:
    from playwright.sync_api import expect

    open_lab(page, lab)
    open_sidebar(page).locator(".jp-nbflow-RunList").wait_for()
    run_id = lab.start_run("demo.ipynb")  # started elsewhere: the page learns it from the server
    toast = page.locator(".Toastify__toast", has_text=f"Run {run_id} of demo")
    expect(toast).to_contain_text("failed", timeout=120_000)
    toast.get_by_role("button", name="Open run").click()
    view = page.locator(f"#nbflow-run-{run_id}")
    boom = view.locator("g.nbflow-node[data-task='boom']")
    expect(boom).to_have_attribute("data-phase", "Failed")
    page.screenshot(path=str(artifact("lab-failed-notification.png")))

    # Retry goes through the server (no kernel): the run goes again, and fails again
    toasts = page.locator(".Toastify__toast", has_text=f"Run {run_id} of demo")
    expect(toasts).to_have_count(0)  # its "Open run" action closed the first one
    view.locator("button.nbflow-action-retry").click()
    expect(toasts).to_have_count(1, timeout=120_000)  # it failed again
    expect(toasts.last).to_contain_text("failed")
    expect(view.locator(".nbflow-notice")).to_have_text("")
    attempts = lab.get(f"nbflow/api/runs/{run_id}/nodes/boom")
    assert attempts["phase"] == "Failed", attempts


def test_mapped_and_failed_node_details(
    page: Any, lab: JupyterServer, finished: dict[str, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    open_lab(page, lab)
    view = open_run(page, finished["quickstart.ipynb"]["id"])
    view.locator("g.nbflow-node[data-task='summarize']").click()
    pane = view.locator(".nbflow-pane[data-task='summarize']")
    expect(pane.locator("summary", has_text="Items (4)")).to_be_visible()
    expect(pane.locator(".nbflow-grid button.nbflow-cell")).to_have_count(4)
    pane.locator(".nbflow-grid button.nbflow-cell").nth(2).click()  # one item: its own details
    expect(pane.locator(".nbflow-kv")).to_contain_text("shard")
    expect(pane.locator("button.nbflow-link", has_text="back to summarize")).to_be_visible()

    # generate failed once, then succeeded: its failed attempt shows the error
    view.locator("g.nbflow-node[data-task='generate']").click()
    pane = view.locator(".nbflow-pane[data-task='generate']")
    attempts = pane.locator(".nbflow-list button")
    expect(attempts).to_have_count(2)
    pane.locator(".nbflow-list button[data-phase='Failed']").click()
    expect(pane.locator("pre.nbflow-traceback")).to_contain_text("ConnectionError")
    page.screenshot(path=str(artifact("lab-node-details.png")))

    view = open_run(page, finished["demo.ipynb"]["id"])
    view.locator("g.nbflow-node[data-task='boom']").click()
    pane = view.locator(".nbflow-pane[data-task='boom']")
    expect(pane.locator("pre.nbflow-traceback")).to_contain_text("ZeroDivisionError")
    expect(pane.locator("pre.nbflow-source")).to_contain_text("x = 1 / 0")
    view.locator("g.nbflow-node[data-task='boom']").press("Escape")
    expect(view.locator(".nbflow-pane")).to_be_hidden()


def test_open_executed_notebook_read_only(
    page: Any, lab: JupyterServer, finished: dict[str, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    open_lab(page, lab)
    run_id = finished["quickstart.ipynb"]["id"]
    view = open_run(page, run_id)
    view.locator("g.nbflow-node[data-task='fit']").click()
    view.locator(".nbflow-pane[data-task='fit'] button.nbflow-open-notebook").click()
    tab = page.locator(".lm-TabBar-tab", has_text=f"fit ({run_id}).ipynb")
    expect(tab).to_be_visible()
    notebook = page.locator(".jp-NotebookPanel.jp-nbflow-Executed")
    expect(notebook.locator(".jp-OutputArea-output").first).to_contain_text("'slope'")
    expect(notebook.locator(".jp-Cell")).to_have_count(4)
    # read-only: typing into a cell changes nothing, and no kernel was started for it
    code = notebook.locator(".jp-Cell .cm-content").nth(2)
    before = code.text_content()
    code.click()
    page.keyboard.press("Enter")
    page.keyboard.type("x = 1")
    assert code.text_content() == before
    editors = notebook.locator(".cm-content").all()
    assert all(e.get_attribute("aria-readonly") == "true" for e in editors)
    expect(notebook.locator(".jp-Toolbar")).to_contain_text("read-only")
    sessions = lab.get("api/sessions")
    assert not [s for s in sessions if "nbflow-run:" in s["path"]], sessions
    page.screenshot(path=str(artifact("lab-executed-notebook.png")))


def test_jump_between_node_and_cell(
    page: Any, lab: JupyterServer, finished: dict[str, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    open_lab(page, lab, "quickstart.ipynb")
    run_id = next(r["id"] for r in lab.get("nbflow/api/runs?notebook=quickstart.ipynb")["runs"])
    badges = page.locator(".jp-nbflow-CellBadge")
    expect(badges).to_have_count(5)  # the setup cell and four templates
    expect(badges.first).to_contain_text(f"run {run_id}")
    fit_badge = page.locator(".jp-nbflow-CellBadge[data-template='fit']")
    expect(fit_badge).to_have_attribute("data-phase", "Succeeded")
    expect(fit_badge).to_have_attribute("data-edited", "false")

    # cell → node: the badge opens the latest run with the cell's task selected
    fit_badge.click()
    view = page.locator(f"#nbflow-run-{run_id}")
    expect(view.locator("g.nbflow-node.nbflow-selected")).to_have_attribute("data-task", "fit")
    expect(view.locator(".nbflow-pane[data-task='fit']")).to_contain_text("template fit")

    # node → cell: "Go to cell" shows the notebook with the template's cell active
    view.locator(".nbflow-pane button.nbflow-goto-cell").click()
    active = page.locator(".jp-NotebookPanel:visible .jp-Cell.jp-mod-active")
    expect(active).to_contain_text("%%template fit --inputs stats")
    expect(active).to_be_in_viewport()

    # editing the cell marks its badge
    active.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nprint(r2)")
    expect(fit_badge).to_have_attribute("data-edited", "true")
    expect(fit_badge).to_contain_text("edited since that run")
    page.screenshot(path=str(artifact("lab-cell-badges.png")))


def test_make_template_from_cell_toolbar(page: Any, lab: JupyterServer) -> None:
    from playwright.sync_api import expect

    cell = {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
            "outputs": [], "source": "total = sum(range(10))"}
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    (lab.root / "plain.ipynb").write_text(json.dumps(nb))
    open_lab(page, lab, "plain.ipynb")
    page.locator(".jp-Cell .jp-InputArea-editor").first.click()
    page.keyboard.press("Escape")
    page.locator(".jp-cell-toolbar [data-command='nbflow:make-template']").click()
    name = page.locator(".jp-Dialog input")
    expect(name).to_have_value("total")  # named after what the cell computes
    name.fill("sum_up")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    editor = page.locator(".jp-Cell .cm-content").first
    expect(editor.locator(".cm-line").first).to_have_text("%%template sum_up")
    expect(editor.locator(".cm-line").nth(1)).to_have_text("total = sum(range(10))")
    page.screenshot(path=str(artifact("lab-make-template.png")))
    page.keyboard.press("Control+s")
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)")
    saved = json.loads((lab.root / "plain.ipynb").read_text())
    assert saved["cells"][0]["source"] in (
        "%%template sum_up\ntotal = sum(range(10))",
        ["%%template sum_up\n", "total = sum(range(10))"],
    )


def test_compile_lint_and_schedule_buttons(page: Any, lab: JupyterServer) -> None:
    from playwright.sync_api import expect

    open_lab(page, lab, "quickstart.ipynb")
    workflow = open_sidebar(page).locator(".jp-nbflow-Workflow[data-workflow='quickstart']")
    workflow.locator("button.jp-nbflow-compile").click()
    manifest = page.locator(".jp-nbflow-Manifest")
    expect(manifest.locator("pre")).to_contain_text("kind: Workflow")
    expect(manifest.locator("pre")).to_contain_text("generateName: quickstart-")
    tab = page.get_by_role("tab", name="quickstart.yaml")
    expect(tab).to_have_attribute("aria-selected", "true")

    workflow.locator("button.jp-nbflow-lint").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Lint: quickstart")
    dialog.locator(".jp-mod-accept").click()

    workflow.locator("button.jp-nbflow-schedule").click()
    try:
        lab.get("nbflow/api/schedules")
        scheduler = True
    except OSError:  # 404: this server has no schedules API
        scheduler = False
    if not scheduler:
        expect(dialog).to_contain_text("Schedules are not available")
        expect(dialog).to_contain_text("nbflow/api/schedules answered 404")
        dialog.locator(".jp-mod-accept").click()
        return
    dialog.locator("textarea").fill("0 2 * * *\nEurope/Paris")
    dialog.locator(".jp-mod-accept").click()
    expect(dialog).to_contain_text("02:00")  # the server's reading, before anything is made
    dialog.locator(".jp-mod-accept").click()
    expect(page.locator(".Toastify__toast", has_text="Scheduled quickstart")).to_be_visible()
    schedules = lab.get("nbflow/api/schedules")["schedules"]
    assert [s["schedules"] for s in schedules if s["workflow"] == "quickstart"] == [["0 2 * * *"]]
