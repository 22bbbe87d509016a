"""A real S3 API server on loopback (moto's standalone server), reset between tests."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BUCKET = "nbflow-test"
ACCESS_KEY = "AKIANBFLOWTESTKEY"
# Distinctive, so that tests can check it is written nowhere.
SECRET_KEY = "nbflow-test-secret-5f3b2c"


class MotoServer:
    """moto's threaded S3 server on 127.0.0.1 that a test can stop and start on the same port."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    def stop(self) -> None:
        """Stop serving and close the listening socket, so that clients are refused at once.

        ``ThreadedMotoServer.stop`` only ends the serve loop; the socket would keep accepting
        connections that nobody answers, and clients would wait for their read timeout.
        """
        if self._server is not None:
            self._server.stop()
            self._server._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget every bucket (moto's documented reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@dataclass
class S3:
    """The S3 server of one test: its endpoint, a fresh bucket, and an s3fs client."""

    endpoint: str
    bucket: str
    fs: Any
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @property
    def root(self) -> str:
        """An artifact root in the test bucket."""
        return f"s3://{self.bucket}/prefix"

    def keys(self, under: str = "") -> list[str]:
        """Keys below ``prefix/<under>`` (without the bucket), sorted."""
        found = self.fs.find(f"{self.bucket}/prefix/{under}".rstrip("/"))
        return sorted(p.split("/", 1)[1] for p in found)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One S3 API server for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    """Dummy credentials, the region moto expects, and no trace of the machine's AWS setup."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    # Not region_name=: s3fs would then ask moto for a location constraint it refuses.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a link-local address


def s3_client(endpoint: str) -> Any:
    """An s3fs client of its own (no instance cache, no listings cache) at ``endpoint``."""
    import s3fs

    return s3fs.S3FileSystem(
        endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False
    )


@pytest.fixture()
def s3(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3:
    """The session's server, emptied, with the bucket ``nbflow-test`` and the environment set."""
    aws_environment(monkeypatch, tmp_path, moto_server.endpoint)
    moto_server.reset()
    fs = s3_client(moto_server.endpoint)
    fs.mkdir(BUCKET)
    return S3(moto_server.endpoint, BUCKET, fs)


@pytest.fixture()
def flaky_server(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[MotoServer]:
    """A second server on a port of its own, for tests that stop and restart it.

    Both servers run in this process and share moto's state, so data survives a restart here
    (a separate moto process would lose it); the bucket ``nbflow-test`` exists at the start.
    """
    aws_environment(monkeypatch, tmp_path, moto_server.endpoint)
    moto_server.reset()
    server = MotoServer()
    server.start()
    s3_client(server.endpoint).mkdir(BUCKET)
    yield server
    server.stop()
