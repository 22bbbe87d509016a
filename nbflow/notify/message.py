"""The message about a finished run: what failed, the failing cell's error line, where to look.

Facts come from a local :class:`~nbflow.engine.run.Run` (:func:`outcome_of_run`) or, in a
cluster's exit handler, from Argo's ``{{workflow.failures}}`` (:func:`outcome_of_failures`);
both render the same text, JSON and Slack bodies.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..vocab import LABEL_WORKFLOW

__all__ = ["Outcome", "outcome_of_run", "outcome_of_failures"]


@dataclass
class Outcome:
    """What a notification says about one run."""

    workflow: str
    run: str
    phase: str
    message: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)  # task, error, notebook
    schedule: str = ""
    scheduled_time: str = ""
    link: str = ""

    @property
    def subject(self) -> str:
        """One line: the run, its phase, the first failed task."""
        first = f": {self.failures[0]['task']} failed" if self.failures else ""
        return f"[nbflow] {self.workflow} run {self.run} {self.phase}{first}"

    def text(self) -> str:
        """The plain-text body."""
        lines = [f"Run {self.run} of workflow {self.workflow}: {self.phase}"]
        if self.schedule:
            lines.append(f"Scheduled for {self.scheduled_time} by schedule {self.schedule}.")
        if self.message and not self.failures:
            lines.append(self.message)
        for f in self.failures:
            lines.append(f"Failed task: {f['task']}")
            if f.get("error"):
                lines.append(f"  {f['error']}")
            if f.get("notebook"):
                lines.append(f"  executed notebook: {f['notebook']}")
        lines.append(f"Details: {self.link}" if self.link else
                     f"Details: nbflow status {self.run}")
        return "\n".join(lines)

    def json_body(self) -> dict[str, Any]:
        """The body of a plain webhook: every fact, and ``text`` (Slack-like) too."""
        return {"text": self.text(), **asdict(self)}

    def slack_body(self) -> dict[str, Any]:
        """A Slack incoming-webhook body (``text`` plus a Block Kit section)."""
        text = self.text()
        return {"text": self.subject, "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{text}```"}}]}


def _error_line(error: dict[str, Any] | None, message: str) -> str:
    if error and error.get("ename"):
        cell = f" (cell {error['cell']})" if error.get("cell") is not None else ""
        return f"{error['ename']}: {error.get('evalue', '')}{cell}"
    return message


def outcome_of_run(run: Any, settings: dict[str, Any], link: str = "") -> Outcome:
    """The outcome of a local run (its failures read from the executed notebooks)."""
    wf = run.workflow
    labels = (wf.get("metadata") or {}).get("labels") or {}
    failures = []
    for f in run.failures():
        failures.append({"task": f["task"], "error": _error_line(f, f.get("message", "")),
                         "notebook": f.get("notebook") or ""})
    return Outcome(
        workflow=labels.get(LABEL_WORKFLOW) or settings.get("workflow") or run.id,
        run=run.id,
        phase=run.phase,
        message=(wf.get("status") or {}).get("message", ""),
        failures=failures,
        schedule=settings.get("schedule", ""),
        scheduled_time=settings.get("scheduledTime", ""),
        link=link,
    )


def outcome_of_failures(
    workflow: str, run: str, status: str, failures: str, *, notebooks: str = "", link: str = "",
    scheduled_time: str = "",
) -> Outcome:
    """The outcome in an Argo exit handler, from ``{{workflow.status}}`` and
    ``{{workflow.failures}}``; the runner's termination message is the error line, and the
    executed notebook is at ``<notebooks>/<workflow>/<run>/<task>/notebook.ipynb``."""
    rows = json.loads(failures or "[]") if failures.strip().startswith("[") else []
    out = []
    for row in rows:
        task = str(row.get("displayName") or row.get("templateName") or "?")
        task = task.split("(")[0]  # an attempt "train(1)" is task "train"
        where = f"{notebooks.rstrip('/')}/{workflow}/{run}/{task}/notebook.ipynb"
        out.append({"task": task, "error": row.get("message", ""),
                    "notebook": where if notebooks else ""})
    return Outcome(workflow=workflow, run=run, phase=status, failures=out,
                   scheduled_time=scheduled_time, link=link)
