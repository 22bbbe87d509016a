"""The Schedules section of the Pipelines sidebar in a real JupyterLab, driven as a user would."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from .conftest import JupyterServer, artifact
from .test_lab import open_lab, open_sidebar

pytestmark = pytest.mark.kernel

# A notebook with a small pipeline: a scheduled run of it is quick.
CELLS = [
    "%%template hello --outputs n --param start=1\nn = start + 1",
    "%%template show --inputs n\nprint('n is', n)",
    "%%workflow nightly\nhello >> show",
]


def _palette(page: Any, text: str) -> None:
    """Run the command palette's entry ``text`` (category nbflow)."""
    page.keyboard.press("Control+Shift+c")
    search = page.locator(".lm-CommandPalette-input")
    search.fill(text)
    page.locator(".lm-CommandPalette-item", has_text=text).first.click()


def _write_notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
              "outputs": [], "source": source} for i, source in enumerate(CELLS)]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = {"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def test_schedule_from_sidebar(page: Any, lab: JupyterServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from nbflow.schedule.actions import describe_cron

    _write_notebook(lab.root / "nightly.ipynb")
    open_lab(page, lab, "nightly.ipynb")
    section = open_sidebar(page).locator(".jp-nbflow-Schedules")
    expect(section).to_contain_text("No schedules yet.")

    # the form: for the open notebook, its only workflow chosen
    section.locator("button.jp-nbflow-new-schedule").click()
    form = page.locator(".jp-Dialog .jp-nbflow-ScheduleForm")
    expect(form.locator(".jp-nbflow-sf-notebook")).to_have_value("nightly.ipynb")
    expect(form.locator(".jp-nbflow-sf-workflow")).to_have_value("nightly")
    form.locator(".jp-nbflow-sf-name").fill("nightly-paris")
    form.locator(".jp-nbflow-sf-timezone").fill("Europe/Paris")
    words = form.locator(".jp-nbflow-ScheduleForm-words")
    form.locator(".jp-nbflow-sf-cron").fill("0 2 * *")  # a field short: the server says so
    expect(words).to_contain_text("expected 5 cron fields")
    expect(form).to_have_attribute("data-state", "error")
    form.locator(".jp-nbflow-sf-cron").fill("0 2 * * *")
    expect(words).to_have_text("every day at 02:00, Europe/Paris")
    times = form.locator(".jp-nbflow-ScheduleForm-next li")
    expect(times).to_have_count(5)
    # the very instants `nbflow schedule describe` gives, shown as Paris wall times
    shown = times.evaluate_all("els => els.map((e) => e.dataset.time)")
    assert shown == describe_cron(["0 2 * * *"], "Europe/Paris")["next"]
    assert all(t.endswith(" 02:00") for t in times.all_text_contents())
    form.locator(".jp-nbflow-sf-policy").select_option("Forbid")
    form.locator(".jp-nbflow-sf-deadline").fill("600")
    form.locator(".jp-nbflow-sf-keep-succeeded").fill("5")
    form.locator(".jp-nbflow-sf-keep-failed").fill("2")
    form.locator(".jp-nbflow-sf-parameters").fill("start=5")
    form.locator(".jp-nbflow-sf-notify").fill("slack:hooks.example/x")
    form.locator(".jp-nbflow-sf-code-snapshot").check()
    page.screenshot(path=str(tmp_path / "schedule-form.png"))
    page.locator(".jp-Dialog .jp-mod-accept").click()
    # the server refuses the target: the form comes back, filled, with its one-line reason
    expect(form.locator(".jp-nbflow-ScheduleForm-error")).to_contain_text("name a webhook")
    expect(form.locator(".jp-nbflow-sf-cron")).to_have_value("0 2 * * *")
    expect(form.locator(".jp-nbflow-sf-code-snapshot")).to_be_checked()
    form.locator(".jp-nbflow-sf-notify").fill("slack:team")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    toast = page.locator(".Toastify__toast", has_text="Scheduled nightly as nightly-paris")
    expect(toast).to_be_visible()

    item = section.locator(".jp-nbflow-Schedule[data-schedule='nightly-paris']")
    expect(item.locator(".jp-nbflow-Schedule-words")).to_have_text(
        "every day at 02:00, Europe/Paris"
    )
    expect(item.locator(".jp-nbflow-Schedule-next")).to_contain_text(" 02:00 (in ")
    expect(item.locator(".jp-nbflow-Schedule-code")).to_contain_text("frozen snapshot")
    expect(item.locator(".jp-nbflow-Schedule-options")).to_contain_text(
        "policy Forbid · deadline 600s · keeps 5 succeeded / 2 failed · notifies slack:team on "
        "failure · start=5"
    )
    made = lab.get("nbflow/api/schedules/nightly-paris")
    assert (made["workflow"], made["timezone"], made["code"]) == (
        "nightly", "Europe/Paris", "snapshot"
    )
    assert (made["concurrencyPolicy"], made["startingDeadlineSeconds"], made["history"]) == (
        "Forbid", 600, [5, 2]
    )
    assert made["parameters"] == ["start=5"]
    assert made["notify"] == {"targets": [{"kind": "slack", "name": "team"}], "on": "failure",
                              "attach": False}

    # pause with the button, resume from the command palette
    item.locator("button.jp-nbflow-pause-schedule").click()
    expect(item).to_have_attribute("data-state", "paused")
    expect(item.locator(".jp-nbflow-Schedule-next")).to_have_text("paused: no next run")
    assert lab.get("nbflow/api/schedules/nightly-paris")["suspended"] is True
    _palette(page, "Resume a schedule")
    page.locator(".jp-Dialog select").select_option("nightly-paris")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(item).to_have_attribute("data-state", "active")
    assert lab.get("nbflow/api/schedules/nightly-paris")["nextScheduledTime"] is not None

    # run now: the run shows in the schedule's history, live, and opens into the run view
    item.locator("button.jp-nbflow-run-schedule").click()
    run = item.locator(".jp-nbflow-ScheduleHistory .jp-nbflow-ScheduleRun").first
    run.wait_for()
    run_id = run.get_attribute("data-run")
    assert run_id and run_id.startswith("nightly-paris-"), run_id
    expect(run).to_have_attribute("data-phase", "Succeeded", timeout=120_000)
    expect(item.locator(".jp-nbflow-Schedule-last")).to_have_attribute("data-phase", "Succeeded")
    history = lab.get("nbflow/api/schedules/nightly-paris/history")["runs"]
    assert [(r["run"], r["phase"]) for r in history] == [(run_id, "Succeeded")]
    run.click()
    view = page.locator(f"#nbflow-run-{run_id}")
    view.locator("g.nbflow-node").first.wait_for()
    expect(view.locator(".nbflow-title .nbflow-badge")).to_have_attribute("data-phase", "Succeeded")
    page.screenshot(path=str(tmp_path / "schedules.png"))
    page.screenshot(path=str(artifact("lab-schedules.png")))

    # delete asks first; cancelled, the schedule stays
    item.locator("button.jp-nbflow-delete-schedule").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Delete schedule nightly-paris?")
    dialog.locator(".jp-mod-reject").click()
    expect(item).to_be_visible()
    item.locator("button.jp-nbflow-delete-schedule").click()
    dialog.locator(".jp-mod-accept").click()
    expect(item).to_have_count(0)
    expect(section).to_contain_text("No schedules yet.")
    with pytest.raises(urllib.error.HTTPError) as missing:
        lab.get("nbflow/api/schedules/nightly-paris")
    missing.value.close()
    assert missing.value.code == 404
    assert lab.get(f"nbflow/api/runs/{run_id}")["summary"]["phase"] == "Succeeded"  # runs stay
    assert page.nbflow_errors == []
