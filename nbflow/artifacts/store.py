"""The artifact store's one interface: keys under a root URL, retries, errors, a backend."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import StorageError
from ..storage_errors import Failure, RetryPolicy, call_with_retries, describe_failure
from .generic import FsspecBackend
from .local import LocalBackend
from .s3 import ObjectBackend, s3_options

__all__ = ["ArtifactStore", "is_object_store", "backend_for", "refuse_credentials", "BACKENDS"]

T = TypeVar("T")

#: The backend of each URL scheme; any other scheme fsspec knows gets :class:`FsspecBackend`.
BACKENDS: dict[str, type[FsspecBackend]] = {
    "file": LocalBackend,
    "local": LocalBackend,
    "s3": ObjectBackend,
    "s3a": ObjectBackend,
}


def scheme(url: str) -> str:
    """The URL's scheme; a plain path is ``file``."""
    return url.split("://", 1)[0] if "://" in url else "file"


def is_object_store(url: str) -> bool:
    """Whether ``url`` names an S3 bucket (``s3://``, ``s3a://``) rather than a folder."""
    return BACKENDS.get(scheme(url)) is ObjectBackend


def backend_for(url: str) -> type[FsspecBackend]:
    """The backend class that stores artifacts under ``url``."""
    return BACKENDS.get(scheme(url), FsspecBackend)


class ArtifactStore:
    """Artifacts addressed by key (``<workflow>/<run>/<task>[/<item>]/<name>``) under a root URL.

    Parameters
    ----------
    root : str
        An fsspec URL: ``file:///abs/path`` (the default store) or ``s3://bucket/prefix``.
    retry : RetryPolicy, optional
        How transient failures (endpoint unreachable, connection reset, throttling) are retried.
    **storage_options
        Passed to the fsspec filesystem (e.g. ``endpoint_url``, ``profile``); kept in memory
        only, never written anywhere.

    A key ending in ``/`` names a folder. Nothing half-written is ever read: the backend of the
    root's scheme (:data:`BACKENDS`) writes under a temporary name and moves it into place, or
    on S3 commits a folder by writing its metadata file last (:mod:`.s3`). Failures raise
    :class:`~nbflow.errors.StorageError` naming the endpoint and the key
    (:class:`ArtifactNotFound` for a missing artifact), after retrying transient ones.
    """

    def __init__(self, root: str, *, retry: RetryPolicy | None = None, **storage_options: Any):
        import fsspec

        self.root = root.rstrip("/")
        refuse_credentials(self.root)
        self.remote = is_object_store(self.root)
        self.retry = retry or RetryPolicy()
        client = storage_options.get("client_kwargs") or {}
        self._endpoint_option = storage_options.get("endpoint_url") or client.get("endpoint_url")
        if self.remote:
            storage_options = s3_options(storage_options)
        try:
            self.fs, self._base = fsspec.core.url_to_fs(self.root, **storage_options)
        except ImportError as exc:  # fsspec names the package to install
            raise StorageError(f"cannot open the artifact store {self.root}: {exc}") from None
        self.backend = backend_for(self.root)(self)

    @classmethod
    def from_config(cls, config: Any, root: str | None = None) -> ArtifactStore:
        """The store at ``root`` (default ``config.artifact_root``) with the storage settings of
        an :class:`~nbflow.config.NbflowConfig`: storage options, S3 endpoint, retries."""
        root = root or config.artifact_root
        options = dict(config.storage_options)
        if config.s3_endpoint_url and is_object_store(root):
            options.setdefault("endpoint_url", config.s3_endpoint_url)
        retry = RetryPolicy(
            retries=config.storage_retries,
            backoff_s=config.storage_backoff_s,
            max_backoff_s=config.storage_max_backoff_s,
        )
        return cls(root, retry=retry, **options)

    def path(self, key: str) -> str:
        """The filesystem path of ``key`` (without protocol)."""
        return f"{self._base}/{key.strip('/')}"

    def url(self, key: str) -> str:
        """The full URL of ``key``."""
        return f"{self.root}/{key.lstrip('/')}"

    @property
    def endpoint(self) -> str | None:
        """The S3 endpoint in use, without credentials (``None`` for a local store)."""
        if not self.remote:
            return None
        client = getattr(self.fs, "_s3", None)
        url = (
            getattr(getattr(client, "meta", None), "endpoint_url", None)
            or self._endpoint_option
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        return _without_userinfo(url) if url else "the default AWS S3 endpoint"

    # ------------------------------------------------------------------ public operations

    def exists(self, key: str) -> bool:
        """Whether anything is stored at ``key`` (on S3, a folder only once it is complete)."""
        return bool(self._call("look up", key, lambda: self.backend.exists(key)))

    def upload(self, local: Path, key: str) -> None:
        """Store the file or folder ``local`` at ``key``, replacing what was there."""
        local = Path(local)
        if not local.exists():
            raise StorageError(f"cannot store {local} at {self.url(key)}: it does not exist")
        self._call("store", key, lambda: self.backend.put(local, key))

    def download(self, key: str, local: Path) -> None:
        """Copy ``key`` (a file, or a folder when ``key`` ends with ``/``) to ``local``."""
        local = Path(local)
        self._call("fetch", key, lambda: self.backend.get(key, local))

    def copy(self, src: str, dst: str) -> None:
        """Store a copy of ``src`` (a file, or a folder when it ends with ``/``) at ``dst``,
        replacing what was there, without the data going through this machine on S3
        (server-side copies) and with the same atomicity as :meth:`upload`."""
        self._call("copy", dst, lambda: self.backend.copy(src, dst))

    def delete(self, key: str) -> None:
        """Remove what is stored at ``key`` (a file, or everything under a folder key)."""
        self._call("delete", key, lambda: self.backend.delete(key))

    def size(self, key: str) -> int:
        """Bytes stored at ``key`` (0: nothing)."""
        return int(self._call("measure", key, lambda: self.backend.size(key)))

    def read_bytes(self, key: str) -> bytes:
        """The content of the (small) file at ``key``."""
        return bytes(self._call("read", key, lambda: self.backend.read(key)))

    def local_path(self, key: str) -> Path | None:
        """A local filesystem path for ``key`` when the store is local, else ``None``."""
        return self.backend.local_path(key)

    # ------------------------------------------------------------------ errors and retries

    def _call(self, action: str, key: str, fn: Callable[[], T]) -> T:
        url = self.url(key)

        def translate(exc: BaseException, failure: Failure, attempts: int, s: float) -> Any:
            return describe_failure(action, url, self.endpoint, exc, failure, attempts, s)

        return call_with_retries(fn, self.retry, f"{action} {url}", translate)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def refuse_credentials(root: str) -> None:
    """Raise :class:`StorageError` when the artifact root URL ``root`` holds credentials
    (``user:secret@``): it is recorded with every run. The message shows it without them."""
    if "://" in root and "@" in urlsplit(root).netloc:
        raise StorageError(
            f"the artifact root {_without_userinfo(root)} must not hold credentials "
            "(user:secret@): it is recorded with every run; use the environment, an AWS "
            "profile or nbflow's storage_options"
        )
