"""Storage failures: which are transient, how they read to a user, and the retry loop."""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import DiskFull, StorageError

__all__ = [
    "ArtifactNotFound",
    "RetryPolicy",
    "Failure",
    "classify",
    "is_storage_error",
    "call_with_retries",
    "describe_failure",
    "detail",
]

log = logging.getLogger("nbflow.artifacts")
T = TypeVar("T")


class ArtifactNotFound(StorageError, FileNotFoundError):
    """Nothing is stored at an artifact's key.

    Parameters
    ----------
    message : str
        The whole message, naming the artifact's URL.
    url : str
        The URL that was looked up.
    """

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.args = (message, url)  # so that pickling rebuilds it with this signature

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class RetryPolicy:
    """How transient storage failures are retried: exponential backoff with a cap.

    Parameters
    ----------
    retries : int
        Attempts after the first one (0: never retry).
    backoff_s : float
        Wait before the first retry, in seconds.
    factor : float
        Each further wait is this many times the previous one.
    max_backoff_s : float
        Longest single wait.
    """

    retries: int = 6
    backoff_s: float = 0.5
    factor: float = 2.0
    max_backoff_s: float = 8.0

    def delay_s(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based)."""
        return float(min(self.backoff_s * self.factor ** (retry - 1), self.max_backoff_s))


@dataclass(frozen=True)
class Failure:
    """What a storage exception means: its ``kind``, and whether trying again may help."""

    kind: str
    transient: bool


# The translation tables, as in s3fs/errors.py: S3 error codes first (they are the most precise),
# then exception classes by name anywhere in the class hierarchy, so that botocore, aiohttp and
# s3fs need not be imported to classify what they raise.
_BY_CODE: dict[str, str] = {
    "SlowDown": "transient",
    "ServiceUnavailable": "transient",
    "InternalError": "transient",
    "RequestTimeout": "transient",
    "Throttling": "transient",
    "ThrottlingException": "transient",
    "RequestLimitExceeded": "transient",
    "500": "transient",
    "502": "transient",
    "503": "transient",
    "504": "transient",
    "NoSuchBucket": "no-bucket",
    "NoSuchKey": "not-found",
    "404": "not-found",
    "AccessDenied": "denied",
    "InvalidAccessKeyId": "denied",
    "SignatureDoesNotMatch": "denied",
    "ExpiredToken": "denied",
    "InvalidToken": "denied",
    "403": "denied",
}
_BY_CLASS: dict[str, str] = {
    "EndpointConnectionError": "unreachable",
    "ConnectTimeoutError": "unreachable",
    "ClientConnectorError": "unreachable",
    "ConnectionRefusedError": "unreachable",
    "ReadTimeoutError": "transient",
    "ConnectionClosedError": "transient",
    "ResponseStreamingError": "transient",
    "ResponseParserError": "transient",
    "HTTPClientError": "transient",
    "ClientPayloadError": "transient",
    "ServerDisconnectedError": "transient",
    "ClientOSError": "transient",
    "IncompleteRead": "transient",
    "FSTimeoutError": "transient",
    "TimeoutError": "transient",
    "ConnectionError": "transient",
    "NoCredentialsError": "credentials",
    "PartialCredentialsError": "credentials",
    "ProfileNotFound": "credentials",
    "FileNotFoundError": "not-found",
    "PermissionError": "denied",
}
_TRANSIENT = frozenset({"unreachable", "transient"})
_STORAGE_MODULES = ("botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec", "urllib3")

# What each kind says, after "cannot <action> <url>: ".
HINTS: dict[str, str] = {
    "unreachable": "the storage endpoint is unreachable",
    "transient": "the storage endpoint failed",
    "not-found": "not found",
    "no-bucket": "the bucket does not exist",
    "denied": "access denied (check the credentials: environment, AWS profile, or nbflow's "
    "storage_options)",
    "credentials": "no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
    "AWS_PROFILE, or nbflow's storage_options)",
    "full": "no space left on the device",
    "other": "failed",
}
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return str(code or status or "") or None
    return None


def classify(exc: BaseException) -> Failure:
    """Look ``exc`` (and the exceptions it was raised from) up in the translation tables."""
    chain = _chain(exc)
    if any(isinstance(e, OSError) and e.errno in _FULL for e in chain):
        return Failure("full", False)
    for item in chain:
        kind = _BY_CODE.get(_code(item) or "")
        if kind:
            return Failure(kind, kind in _TRANSIENT)
    for item in chain:
        for cls in type(item).__mro__:
            kind = _BY_CLASS.get(cls.__name__)
            if kind:
                return Failure(kind, kind in _TRANSIENT)
    return Failure("other", False)


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the storage stack (rather than being a bug to let through)."""
    if isinstance(exc, OSError):
        return True
    return any(c.__module__.split(".")[0] in _STORAGE_MODULES for c in type(exc).__mro__)


def detail(exc: BaseException) -> str:
    """A short description of ``exc``: its class and first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    what: str,
    translate: Callable[[BaseException, Failure, int, float], StorageError],
) -> T:
    """Call ``fn``; retry transient storage failures per ``policy``, translate the rest.

    Parameters
    ----------
    fn : callable
        The whole operation; it must be safe to repeat.
    policy : RetryPolicy
        Retries and waits.
    what : str
        The operation, for the log, e.g. ``"store s3://bucket/key"``.
    translate : callable
        ``translate(exc, failure, attempts, elapsed_s)`` builds the :class:`StorageError`
        raised when giving up.
    """
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except StorageError:
            raise
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            failure = classify(exc)
            if not failure.transient or attempt > policy.retries:
                raise translate(exc, failure, attempt, time.monotonic() - start) from exc
            wait_s = policy.delay_s(attempt)
            log.info(
                "cannot %s (%s); retry %d of %d in %.1f s",
                what,
                detail(exc),
                attempt,
                policy.retries,
                wait_s,
            )
            time.sleep(wait_s)


def describe_failure(
    action: str,
    url: str,
    endpoint: str | None,
    exc: BaseException,
    failure: Failure,
    attempts: int,
    elapsed_s: float,
) -> StorageError:
    """The error raised for a failed ``action`` on ``url``: one line naming endpoint and key."""
    where = f"{url} (endpoint {endpoint})" if endpoint else url
    if failure.kind == "not-found":
        return ArtifactNotFound(f"artifact not found: {where}", url)
    message = f"cannot {action} {where}: {HINTS[failure.kind]}"
    if failure.kind == "full":
        return DiskFull(message)
    if failure.transient:
        message += f", gave up after {attempts} attempts over {elapsed_s:.1f} s"
    return StorageError(f"{message} ({detail(exc)})")
