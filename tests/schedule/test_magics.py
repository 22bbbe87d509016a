"""``%nbflow schedule ...`` and ``%%workflow --notify`` in a real IPython shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from nbflow.magics import live_spec
from nbflow.schedule import actions

CELLS = ["%%template a --outputs x\nx = 1", "%%template b --inputs x\nprint(x)"]


def run(ip: Any, code: str) -> Any:
    return ip.run_cell(code, store_history=True)


def test_workflow_notify_options(shell: Any) -> None:
    for cell in CELLS:
        assert run(shell, cell).success
    assert run(shell, "%%workflow w --notify email:ops@example.org --notify slack:team "
                      "--notify-on always --notify-attach\na >> b").success
    assert live_spec(shell).workflow("w").notify == {
        "targets": [{"kind": "email", "to": ["ops@example.org"]},
                    {"kind": "slack", "name": "team"}],
        "on": "always", "attach": True}
    bad = run(shell, "%%workflow v --notify webhook:http://x.example/y\na")
    assert isinstance(bad.error_in_exec, UsageError)
    assert "URLs are kept out" in str(bad.error_in_exec)


def test_schedule_the_live_workflow_as_a_snapshot(shell: Any, nbflow_home: Path,
                                                  capsys: Any) -> None:
    for cell in CELLS:
        run(shell, cell)
    run(shell, "%%workflow w --notify webhook:hook\na >> b")
    assert run(shell, "%nbflow schedule add w --cron '0 2 * * *' --timezone Europe/Paris "
                      "--history 5/2").success
    out = capsys.readouterr().out
    assert "schedule w: every day at 02:00, Europe/Paris" in out
    assert "code: the manifest as added" in out  # no notebook file: a snapshot
    (row,) = actions.list_schedules()  # the same schedules as the CLI's
    assert (row["code"], row["history"], row["notify"]["targets"]) == (
        "snapshot", [5, 2], [{"kind": "webhook", "name": "hook"}])
    assert run(shell, "%nbflow schedule pause w").success
    assert actions.get_schedule("w")["suspended"] is True
    assert run(shell, "%nbflow schedule list").success
    assert "paused" in capsys.readouterr().out
    assert run(shell, "%nbflow schedule resume w").success
    assert run(shell, "%nbflow schedule show w").success
    assert "kind: CronWorkflow" in capsys.readouterr().out
    assert run(shell, "%nbflow schedule remove w").success
    assert actions.list_schedules() == []


def test_schedule_follows_the_notebook_file(shell: Any, nbflow_home: Path, make_notebook: Any,
                                            capsys: Any) -> None:
    nb = make_notebook([*CELLS, "%%workflow w --schedule '@daily'\na >> b"])
    shell.user_ns["__session__"] = str(nb)  # what ipykernel sets for a notebook's kernel
    assert run(shell, "%nbflow schedule add w").success
    assert f"follows {nb}" in capsys.readouterr().out
    assert actions.get_schedule("w")["schedules"] == ["@daily"]
    del shell.user_ns["__session__"]
    for cell in CELLS:
        run(shell, cell)
    run(shell, "%%workflow v\na >> b")
    result = run(shell, "%nbflow schedule add v --cron '@hourly' --follow")
    assert "--follow needs the notebook's file" in str(result.error_in_exec)
    result = run(shell, "%nbflow schedule show")
    assert "which schedule?" in str(result.error_in_exec)
