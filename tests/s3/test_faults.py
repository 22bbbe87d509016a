"""Faults with the S3 server really stopped and restarted: retries, then clear errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nbflow import api, marshal
from nbflow.artifacts import ArtifactStore, RetryPolicy
from nbflow.config import load_config
from nbflow.errors import StorageError
from nbflow.notebook.extract import read_notebook

PATIENT = RetryPolicy(retries=30, backoff_s=0.1, max_backoff_s=0.5)  # about 14 s in all


class RetrySeen(logging.Handler):
    """Sets ``event`` when the store logs that it will retry."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.event.set()


@pytest.fixture()
def retries() -> Iterator[RetrySeen]:
    handler = RetrySeen()
    logger = logging.getLogger("nbflow.artifacts")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


def artifact(tmp_path: Path, value: Any) -> Path:
    folder = tmp_path / "out" / "x"
    marshal.save(value, folder, name="x")
    return folder


def test_upload_survives_the_server_going_away(
    flaky_server: Any, retries: RetrySeen, tmp_path: Path
) -> None:
    store = ArtifactStore("s3://nbflow-test/p", retry=PATIENT, endpoint_url=flaky_server.endpoint)
    flaky_server.stop()
    thread, errors = in_thread(lambda: store.upload(artifact(tmp_path, [1, 2]), "wf/r/t/x/"))
    assert retries.event.wait(30), "the upload never retried"
    flaky_server.start()  # same port
    thread.join(60)
    assert not thread.is_alive() and errors == []
    assert "unreachable" not in " ".join(retries.messages)  # the log names the real error
    assert "EndpointConnectionError" in retries.messages[0]
    assert "s3://nbflow-test/p/wf/r/t/x/" in retries.messages[0]
    store.download("wf/r/t/x/", tmp_path / "back")
    assert marshal.load(tmp_path / "back") == [1, 2]


def test_download_survives_the_server_going_away(
    flaky_server: Any, retries: RetrySeen, tmp_path: Path
) -> None:
    store = ArtifactStore("s3://nbflow-test/p", retry=PATIENT, endpoint_url=flaky_server.endpoint)
    store.upload(artifact(tmp_path, {"k": "v"}), "wf/r/t/x/")
    flaky_server.stop()
    thread, errors = in_thread(lambda: store.download("wf/r/t/x/", tmp_path / "back"))
    assert retries.event.wait(30), "the download never retried"
    assert not (tmp_path / "back").exists()
    flaky_server.start()
    thread.join(60)
    assert not thread.is_alive() and errors == []
    assert marshal.load(tmp_path / "back") == {"k": "v"}


def test_endpoint_gone_for_good_names_endpoint_and_key(
    flaky_server: Any, retries: RetrySeen, tmp_path: Path
) -> None:
    policy = RetryPolicy(retries=2, backoff_s=0.05)
    store = ArtifactStore("s3://nbflow-test/p", retry=policy, endpoint_url=flaky_server.endpoint)
    flaky_server.stop()
    with pytest.raises(StorageError) as info:
        store.upload(artifact(tmp_path, 1), "wf/r/t/x/")
    message = str(info.value)
    assert message.startswith(
        f"cannot store s3://nbflow-test/p/wf/r/t/x/ (endpoint {flaky_server.endpoint}): "
        "the storage endpoint is unreachable, gave up after 3 attempts"
    )
    assert len(retries.messages) == 2
    with pytest.raises(StorageError, match=r"cannot fetch s3://nbflow-test/p/wf/r/t/x/ \(endpoint"):
        store.download("wf/r/t/x/", tmp_path / "back")


@pytest.mark.kernel
def test_step_fails_clearly_when_the_endpoint_goes_away_mid_run(
    flaky_server: Any, make_notebook: Any, nbflow_home: Path, tmp_path: Path, eventually: Any
) -> None:
    # The step announces that it runs, then waits for the test to stop the server.
    path = make_notebook(
        [
            "%%template slow --outputs x\n"
            "import pathlib, time\n"
            "pathlib.Path('started').touch()\n"
            "while not pathlib.Path('go').exists():\n"
            "    time.sleep(0.05)\n"
            "x = 42",
            "%%workflow outage\nslow",
        ]
    )
    workdir = path.parent
    cfg = load_config(
        artifact_root="s3://nbflow-test/prefix",
        s3_endpoint_url=flaky_server.endpoint,
        storage_retries=2,
        storage_backoff_s=0.05,
    )
    run = api.run_workflow(read_notebook(path).workflow(), config=cfg, workdir=workdir, wait=False)
    eventually(lambda: (workdir / "started").exists() or run.done, 120, "the step to start")
    flaky_server.stop()
    (workdir / "go").touch()
    run.wait(120)
    assert run.done and run.tasks() == {"slow": "Error"}, run.summary()
    message = run.task_nodes()["slow"]["message"]
    assert f"(endpoint {flaky_server.endpoint})" in message
    assert f"s3://nbflow-test/prefix/outage/{run.id}/slow/" in message
    assert "unreachable, gave up after 3 attempts" in message
