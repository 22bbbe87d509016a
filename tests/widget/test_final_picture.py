"""The widget's last picture of an ended run is its final record, whatever events came."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_finish_sends_the_final_record_even_what_no_event_named(
    nbflow_home: Path, running_workflow: dict[str, Any]
) -> None:
    from nbflow.engine.run import Run
    from nbflow.widget.widget import RunWidget

    from .conftest import node

    run = Run(running_workflow, None, nbflow_home / "runs" / "r")  # type: ignore[arg-type]
    widget = RunWidget(run)
    sent: list[dict[str, Any]] = []
    widget.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    synced: list[Any] = []
    widget.send_state = lambda key=None: synced.append(key)  # type: ignore[method-assign]
    try:
        assert widget.nodes["report"]["phase"] == "Pending"
        # the record moves on with no event for the widget (a late or merged one)
        omitted = node("report", "Skipped", "Omitted", finishedAt="2026-01-01T00:02:00Z")
        run.workflow["status"]["nodes"][omitted["id"]] = omitted
        widget.finish()
        assert widget.nodes["report"]["phase"] == "Omitted"
        patches = [m for m in sent if m.get("type") == "patch"]
        assert [set(p["nodes"]) for p in patches] == [{"report"}]
        assert synced[-1] == "nodes"  # and the whole state, for a view that missed a patch
    finally:
        widget.close()
