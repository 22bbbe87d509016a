"""The translation table and retry loop at the storage boundary (real botocore exceptions)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from s3fs.errors import translate_boto_error

from nbflow.artifacts import ArtifactStore
from nbflow.errors import NbflowError, StorageError
from nbflow.storage_errors import (
    ArtifactNotFound,
    Failure,
    RetryPolicy,
    call_with_retries,
    classify,
    describe_failure,
    is_storage_error,
)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, "PutObject")


@pytest.mark.parametrize(
    ("exc", "kind", "transient"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1/b/k"), "unreachable", True),
        (ConnectionRefusedError(111, "refused"), "unreachable", True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1/b/k"), "transient", True),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1/b/k"), "transient", True),
        (ConnectionResetError(104, "reset"), "transient", True),
        (client_error("SlowDown"), "transient", True),
        (translate_boto_error(client_error("SlowDown")), "transient", True),  # s3fs's OSError
        (translate_boto_error(client_error("503")), "transient", True),
        (translate_boto_error(client_error("NoSuchKey")), "not-found", False),
        (translate_boto_error(client_error("NoSuchBucket")), "no-bucket", False),
        (translate_boto_error(client_error("AccessDenied")), "denied", False),
        (translate_boto_error(client_error("InvalidAccessKeyId")), "denied", False),
        (NoCredentialsError(), "credentials", False),
        (FileNotFoundError("gone"), "not-found", False),
        (OSError(28, "No space left on device"), "full", False),
    ],
)
def test_translation_table(exc: BaseException, kind: str, transient: bool) -> None:
    assert classify(exc) == Failure(kind, transient)
    assert is_storage_error(exc)


def test_bugs_are_not_storage_errors() -> None:
    assert not is_storage_error(ValueError("a bug"))
    assert not is_storage_error(KeyError("a bug"))


def test_transient_failures_are_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("nbflow.storage_errors.time.sleep", waits.append)
    outcomes: list[Any] = [ConnectionResetError(104, "reset")] * 5 + ["done"]

    def flaky() -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    policy = RetryPolicy(retries=6, backoff_s=0.5, factor=2.0, max_backoff_s=4.0)
    assert call_with_retries(flaky, policy, "store k", _translate) == "done"
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_permanent_failures_and_bugs_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nbflow.storage_errors.time.sleep", pytest.fail)
    calls: list[int] = []

    def denied() -> None:
        calls.append(1)
        raise translate_boto_error(client_error("AccessDenied"))

    with pytest.raises(StorageError, match=r"^cannot store s3://b/k \(endpoint http://e\): acc"):
        call_with_retries(denied, RetryPolicy(), "store", _translate)
    assert calls == [1]
    with pytest.raises(ValueError, match="a bug"):
        call_with_retries(lambda: int("a bug"), RetryPolicy(), "store", _translate)


def _translate(exc: BaseException, failure: Failure, attempts: int, s: float) -> StorageError:
    return describe_failure("store", "s3://b/k", "http://e", exc, failure, attempts, s)


def test_errors_pickle_and_keep_their_class() -> None:
    err = describe_failure(
        "fetch", "s3://b/k", "http://e", FileNotFoundError("k"), Failure("not-found", False), 1, 0
    )
    assert isinstance(err, ArtifactNotFound) and isinstance(err, NbflowError)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is ArtifactNotFound
    assert (
        str(again) == "artifact not found: s3://b/k (endpoint http://e)" and again.url == "s3://b/k"
    )


def test_missing_credentials_are_said_so(
    s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "f").write_text("x")
    store = ArtifactStore(s3.root, retry=RetryPolicy(retries=0))
    with pytest.raises(StorageError, match="no credentials found") as info:
        store.upload(tmp_path / "f", "wf/run/t/f")
    assert f"{s3.root}/wf/run/t/f (endpoint {s3.endpoint})" in str(info.value)
