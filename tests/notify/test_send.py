"""Notifications against real receivers on loopback: SMTP (STARTTLS, login) and HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbflow.errors import SpecError
from nbflow.notify.message import Outcome, outcome_of_failures
from nbflow.notify.send import send
from nbflow.notify.spec import parse_notify

FAILED = Outcome(
    workflow="nightly", run="nightly-1780279200", phase="Failed",
    failures=[{"task": "boom", "error": "ZeroDivisionError: division by zero (cell 3)",
               "notebook": "/home/me/.local/share/nbflow/artifacts/nightly/x/boom/nb.ipynb"}],
    schedule="nightly", scheduled_time="2026-06-01T02:00:00Z",
)


def test_email_with_starttls_and_login(smtp_server: Any) -> None:
    notify = parse_notify(["email:ops@example.org,me@example.org"])
    assert send(FAILED, notify, smtp_server.config()) == [
        {"target": "email:ops@example.org,me@example.org", "ok": True}]
    (msg,) = smtp_server.messages
    assert smtp_server.logins == ["nbflow-bot"]
    assert msg["Subject"] == "[nbflow] nightly run nightly-1780279200 Failed: boom failed"
    assert msg["To"] == "ops@example.org, me@example.org"
    body = msg.get_body(("plain",)).get_content()
    assert "Failed task: boom" in body
    assert "ZeroDivisionError: division by zero (cell 3)" in body
    assert "executed notebook: /home/me/.local/share/nbflow/artifacts/nightly/x/boom" in body
    assert "Scheduled for 2026-06-01T02:00:00Z by schedule nightly." in body


def test_a_refused_login_is_a_result_without_the_password(smtp_server: Any) -> None:
    (result,) = send(FAILED, parse_notify(["email:ops@example.org"]),
                     smtp_server.config(smtp_password="wrong-Pa55"))
    assert not result["ok"] and "SMTPAuthenticationError" in result["error"]
    assert "wrong-Pa55" not in result["error"] and smtp_server.messages == []


def test_without_starttls_the_server_refuses(smtp_server: Any) -> None:
    (result,) = send(FAILED, parse_notify(["email:ops@example.org"]),
                     smtp_server.config(smtp_starttls=False))
    assert not result["ok"] and smtp_server.messages == []


def test_webhook_json_and_slack_bodies(webhook: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbflow.notify.config import NotifyConfig

    monkeypatch.setenv("NBFLOW_WEBHOOK_TEAM_CHAT", webhook.url)
    cfg = NotifyConfig(webhooks={"hook": webhook.url}, run_url="http://lab/runs/{run}")
    results = send(FAILED, parse_notify(["webhook:hook", "slack:team-chat"]), cfg)
    assert [r["ok"] for r in results] == [True, True]
    plain, slack = webhook.bodies
    assert plain["run"] == "nightly-1780279200" and plain["phase"] == "Failed"
    assert plain["failures"][0]["error"] == "ZeroDivisionError: division by zero (cell 3)"
    assert plain["link"] == "http://lab/runs/nightly-1780279200"
    assert slack["text"] == FAILED.subject and slack["blocks"][0]["type"] == "section"
    assert "Failed task: boom" in slack["blocks"][0]["text"]["text"]
    assert set(slack) == {"text", "blocks"}


def test_webhook_errors_do_not_show_the_url(webhook: Any) -> None:
    from nbflow.notify.config import NotifyConfig

    webhook.status = 500
    (result,) = send(FAILED, parse_notify(["webhook:hook"]), NotifyConfig(webhooks={"hook":
                                                                                   webhook.url}))
    assert result == {"target": "webhook:hook", "ok": False,
                      "error": "HTTP 500 Internal Server Error"}
    (missing,) = send(FAILED, parse_notify(["webhook:other"]), NotifyConfig())
    assert "NBFLOW_WEBHOOK_OTHER" in missing["error"]


def test_when_to_notify(webhook: Any) -> None:
    from nbflow.notify.config import NotifyConfig

    cfg = NotifyConfig(webhooks={"hook": webhook.url})
    ok = Outcome(workflow="w", run="w-1", phase="Succeeded")
    assert send(ok, parse_notify(["webhook:hook"]), cfg) == []  # default: failures only
    assert send(ok, parse_notify(["webhook:hook"], "always"), cfg)[0]["ok"]
    assert send(FAILED, parse_notify(["webhook:hook"], "success"), cfg) == []
    assert len(webhook.bodies) == 1


@pytest.mark.parametrize(("targets", "message"), [
    (["mail:x@y.z"], "expected email:ADDRESS"),
    (["email:nobody"], "'nobody' is not an address"),
    (["webhook:https://hooks.example.com/x"], "URLs are kept out of notebooks"),
])
def test_bad_targets(targets: list[str], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_notify(targets)


def test_outcome_from_argo_failures() -> None:
    failures = ('[{"displayName":"boom(1)","message":"ZeroDivisionError: division by zero '
                '(cell 3)","templateName":"boom","phase":"Failed","podName":"p"}]')
    out = outcome_of_failures("nightly", "nightly-abc", "Failed", failures,
                              notebooks="s3://bucket")
    assert out.failures == [{"task": "boom", "error": "ZeroDivisionError: division by zero "
                             "(cell 3)", "notebook": "s3://bucket/nightly/nightly-abc/boom/"
                             "notebook.ipynb"}]


def test_the_exit_handler_program_sends_as_argo_runs_it(webhook: Any, monkeypatch: Any,
                                                        capsys: Any) -> None:
    import subprocess
    import sys

    failures = ('[{"displayName":"boom","message":"ZeroDivisionError: division by zero '
                '(cell 3)","templateName":"boom","phase":"Failed","podName":"p"}]')
    argv = [sys.executable, "-m", "nbflow.notify", "--workflow", "nightly", "--run",
            "nightly-1780279200", "--status", "Failed", "--failures", failures, "--notify",
            '{"on":"failure","targets":[{"kind":"webhook","name":"team"}]}',
            "--notebooks", "s3://bucket"]
    env = {**__import__("os").environ, "NBFLOW_WEBHOOK_TEAM": webhook.url}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "webhook:team: sent" in done.stderr
    assert "SECRET-TOKEN" not in done.stderr
    (body,) = webhook.bodies
    assert body["failures"][0]["notebook"] == (
        "s3://bucket/nightly/nightly-1780279200/boom/notebook.ipynb")
    webhook.status = 500  # a failed notification must not fail the workflow
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "not sent: HTTP 500" in done.stderr


def test_a_notification_setting_of_the_wrong_kind_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbflow.config import load_config
    from nbflow.errors import NbflowError
    from nbflow.notify.config import load_notify_config

    (tmp_path / "nbflow_config.py").write_text("c.NotifyConfig.smtp_port = 'many'\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    with pytest.raises(NbflowError, match="^invalid notification setting: .*smtp_port"):
        load_notify_config(load_config())
