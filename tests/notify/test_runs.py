"""Local runs that notify when they end: real kernels, real receivers on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbflow import api
from nbflow.notebook.extract import read_notebook

pytestmark = pytest.mark.kernel

BOOM = [
    "%%template boom --outputs x\nx = 1 / 0",
    "%%template after --inputs x\nprint(x)",
]


def test_a_failed_run_posts_its_failing_cell(make_notebook: Any, nbflow_home: Path,
                                             webhook: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("NBFLOW_WEBHOOK_HOOK", webhook.url)
    nb = make_notebook([*BOOM, "%%workflow failing --notify webhook:hook\nboom >> after"])
    run = api.run_workflow(read_notebook(nb).workflow("failing"), workdir=nb.parent)
    assert run.phase == "Failed"
    (body,) = webhook.bodies
    assert (body["workflow"], body["run"], body["phase"]) == ("failing", run.id, "Failed")
    (failure,) = body["failures"]
    assert failure["task"] == "boom"
    assert failure["error"].startswith("ZeroDivisionError: division by zero (cell ")
    assert Path(failure["notebook"]).is_file() and failure["notebook"] == run.notebook("boom")
    record = (nbflow_home / "runs" / run.id / "run.json").read_text()
    assert json.loads(record)["notifications"] == [{"target": "webhook:hook", "ok": True}]
    for folder in (nbflow_home / "runs" / run.id).rglob("*"):  # the URL is a secret
        assert not folder.is_file() or "SECRET-TOKEN" not in folder.read_text(errors="replace")


def test_email_with_the_executed_notebook_attached(
    make_notebook: Any, nbflow_home: Path, smtp_server: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    conf = tmp_path / "jupyter-config"
    conf.mkdir()
    (conf / "nbflow_config.py").write_text(
        f"c.NotifyConfig.smtp_host = '127.0.0.1'\nc.NotifyConfig.smtp_port = {smtp_server.port}\n"
        f"c.NotifyConfig.smtp_cafile = {str(smtp_server.cafile)!r}\n"
        "c.NotifyConfig.smtp_user = 'nbflow-bot'\n"
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(conf))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(conf))
    monkeypatch.setenv("NBFLOW_SMTP_PASSWORD", "s3cret-Pa55")  # from the environment only
    nb = make_notebook([*BOOM, "%%workflow failing --notify email:ops@example.org "
                        "--notify-attach\nboom >> after"])
    run = api.run_workflow(read_notebook(nb).workflow("failing"), workdir=nb.parent)
    (msg,) = smtp_server.messages
    assert msg["Subject"] == f"[nbflow] failing run {run.id} Failed: boom failed"
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_content_type() == "text/html"
    assert "ZeroDivisionError" in attachment.get_content()
    record = (nbflow_home / "runs" / run.id / "run.json").read_text()
    assert "s3cret" not in record and '"ok":true' in record


def test_a_succeeded_run_is_not_notified_by_default(make_notebook: Any, nbflow_home: Path,
                                                   webhook: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("NBFLOW_WEBHOOK_HOOK", webhook.url)
    nb = make_notebook(["%%template ok\ny = 1", "%%workflow fine --notify webhook:hook\nok"])
    run = api.run_workflow(read_notebook(nb).workflow("fine"), workdir=nb.parent)
    assert run.phase == "Succeeded" and webhook.bodies == []
