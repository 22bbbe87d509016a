"""A CronWorkflow file keeps its own schedules, policy and ``when`` as a schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nbflow.argo.cron import own_cron_workflow
from nbflow.errors import ManifestError

CRON = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "CronWorkflow",
    "metadata": {"name": "nightly"},
    "spec": {
        "schedules": ["0 2 * * *", "0 14 * * *"],
        "timezone": "Europe/Paris",
        "concurrencyPolicy": "Forbid",
        "when": "{{cronworkflow.failed}} < 3",
        "workflowSpec": {"entrypoint": "main",
                         "arguments": {"parameters": [{"name": "p", "value": "a"}]},
                         "templates": [{"name": "main", "container": {"image": "x"}}]},
    },
}


def test_a_cron_workflow_keeps_its_own_fields_unless_an_option_is_given() -> None:
    kept = own_cron_workflow(CRON, {"p": "b"})
    assert kept["spec"]["schedules"] == ["0 2 * * *", "0 14 * * *"]
    assert (kept["spec"]["timezone"], kept["spec"]["concurrencyPolicy"]) == (
        "Europe/Paris", "Forbid")
    assert kept["spec"]["when"] == "{{cronworkflow.failed}} < 3"
    assert kept["spec"]["workflowSpec"]["arguments"]["parameters"] == [{"name": "p", "value": "b"}]
    given = own_cron_workflow(CRON, {}, schedules=("*/5 * * * *",), concurrency_policy="Replace")
    assert given["spec"]["schedules"] == ["*/5 * * * *"]
    assert given["spec"]["concurrencyPolicy"] == "Replace"
    legacy = {**CRON, "spec": {**CRON["spec"], "schedule": "1 1 * * *"}}
    del legacy["spec"]["schedules"]
    assert own_cron_workflow(legacy, {})["spec"]["schedules"] == ["1 1 * * *"]


def test_schedule_add_of_a_cron_workflow_file(nbflow_home: Path, tmp_path: Path) -> None:
    from nbflow.config import load_config
    from nbflow.schedule.source import ScheduleOptions, cron_workflow

    path = tmp_path / "cron.yaml"
    path.write_text(yaml.safe_dump(CRON))
    obj, _ = cron_workflow(path, None, ["p=c"], ScheduleOptions(), load_config())
    assert obj["spec"]["schedules"] == CRON["spec"]["schedules"]
    assert obj["spec"]["when"] == CRON["spec"]["when"]
    assert obj["spec"]["concurrencyPolicy"] == "Forbid"
    no_schedule = {**CRON, "spec": {k: v for k, v in CRON["spec"].items() if k != "schedules"}}
    with pytest.raises(ManifestError, match="give --cron CRON"):
        own_cron_workflow(no_schedule, {})
