"""The process of one fired run: ``python -m nbflow.schedule.child HOME RUN``.

It builds the tick's Workflow (:func:`.source.tick_workflow`) and runs it on the local engine
through :mod:`nbflow.api`; a run that exists already is left alone while another process runs
it or once it ended, and otherwise goes on where it stopped (its previous process died).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import NbflowConfig
    from .store import ScheduleRecord


def main(argv: list[str] | None = None) -> int:
    """Start or go on with the fired run; return 0 when it succeeded (or was not ours)."""
    args = sys.argv[1:] if argv is None else argv
    home, run = Path(args[0]), args[1]
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # see runner.py
    from .store import schedules_dir

    pid_file = schedules_dir(home) / "pids" / run
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()), encoding="utf-8")
    try:
        return _run(home, run)
    finally:
        pid_file.unlink(missing_ok=True)


def _run(home: Path, run: str) -> int:
    from .. import api
    from ..config import load_config
    from ..engine.store import RunStore
    from ..errors import NbflowError
    from .source import tick_workflow
    from .store import ScheduleStore

    cfg = load_config(home=str(home))
    runs = RunStore(cfg.runs_dir)
    rec = None
    try:
        if (runs.run_dir(run) / "run.json").is_file():
            if runs.is_locked(run):
                print(f"run {run} is being run by another process", file=sys.stderr)
                return 0
            wf, _ = runs.load(run)
            if (wf.get("status") or {}).get("finishedAt"):
                return 0
            print(f"run {run}: its previous process died; going on with it", file=sys.stderr)
            done = api.resume_run(run, config=cfg, progress=sys.stderr)
        else:
            store = ScheduleStore(home)
            fire = store.fire_of(run)
            if fire is None:
                raise NbflowError(f"no schedule fired a run {run}")
            rec = store.get(fire["schedule"])
            store.close()
            manifest, settings = tick_workflow(rec, run, fire["scheduledTime"], cfg)
            workdir = rec.source.get("workdir") or None
            try:
                done = api.run_workflow(manifest, config=cfg, workdir=workdir,
                                        progress=sys.stderr, origin=settings)
            except FileExistsError:
                print(f"run {run} was started by another process", file=sys.stderr)
                return 0
    except NbflowError as exc:
        print(f"nbflow: error: {exc}", file=sys.stderr)
        if _record_error(runs, run, str(exc)) and rec is not None and rec.source.get("notify"):
            _notify_error(rec, run, str(exc), cfg)
        return 2
    print(done.report(), file=sys.stderr)
    return 0 if done.phase == "Succeeded" else 1


def _record_error(runs: object, run: str, message: str) -> bool:
    """A tick whose workflow could not even be built (a broken notebook) still ends, as an
    Error run whose message says why, so that it shows in the history and is notified.
    Returns whether it was recorded here."""
    from datetime import datetime, timezone

    from ..engine.store import RunStore

    assert isinstance(runs, RunStore)
    if (runs.run_dir(run) / "run.json").is_file():
        return False
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    wf = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": run},
        "spec": {"entrypoint": "main", "templates": []},
        "status": {"phase": "Error", "message": message, "startedAt": now, "finishedAt": now,
                   "nodes": {}},
    }
    runs.create(wf, {"artifact_root": "", "workdir": ""})
    return True


def _notify_error(rec: ScheduleRecord, run: str, message: str, cfg: NbflowConfig) -> None:
    """Tell the schedule's ``--notify`` targets that the tick could not start, and why."""
    from ..notify.config import load_notify_config
    from ..notify.message import Outcome
    from ..notify.send import send
    outcome = Outcome(workflow=rec.source.get("workflow") or rec.name, run=run, phase="Error",
                      message=message, schedule=rec.name,
                      scheduled_time=_scheduled(run))
    for result in send(outcome, rec.source["notify"], load_notify_config(cfg)):
        state = "sent" if result["ok"] else f"not sent: {result['error']}"
        print(f"nbflow: notification {result['target']}: {state}", file=sys.stderr)


def _scheduled(run: str) -> str:
    from datetime import datetime, timezone

    seconds = int(run.rsplit("-", 1)[1])
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    sys.exit(main())
