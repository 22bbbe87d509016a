"""A CronWorkflow file as it is: its own ``schedules``, ``timezone``, ``concurrencyPolicy``,
``startingDeadlineSeconds``, ``when`` and history limits, with only the options a user gives
overriding them (``nbflow schedule add cron.yaml``)."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ManifestError
from .manifest import set_parameters

__all__ = ["own_cron_workflow"]


def own_cron_workflow(
    manifest: dict[str, Any],
    parameters: dict[str, str],
    *,
    schedules: tuple[str, ...] = (),
    timezone: str | None = None,
    concurrency_policy: str | None = None,
    starting_deadline_s: int | None = None,
    suspend: bool = False,
    name: str | None = None,
) -> dict[str, Any]:
    """A copy of CronWorkflow ``manifest`` with ``parameters`` set and the given options."""
    obj = copy.deepcopy(manifest)
    spec = obj.setdefault("spec", {})
    if "workflowSpec" not in spec:
        raise ManifestError("the CronWorkflow has no spec.workflowSpec")
    set_parameters(spec["workflowSpec"], parameters)
    legacy = spec.pop("schedule", None)  # v3's single form, removed in v4
    if schedules:
        spec["schedules"] = list(schedules)
    elif legacy and not spec.get("schedules"):
        spec["schedules"] = [legacy]
    if not spec.get("schedules"):
        raise ManifestError("the CronWorkflow has no spec.schedules: give --cron CRON")
    for key, value in (("timezone", timezone), ("concurrencyPolicy", concurrency_policy),
                       ("startingDeadlineSeconds", starting_deadline_s)):
        if value is not None:
            spec[key] = value
    if suspend:
        spec["suspend"] = True
    if name:
        obj.setdefault("metadata", {})["name"] = name
    return obj
