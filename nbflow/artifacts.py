"""The artifact store: files and folders under one fsspec URL, never visible half-written."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import StorageError
from .storage_errors import (
    ArtifactNotFound,
    Failure,
    RetryPolicy,
    call_with_retries,
    describe_failure,
)
from .vocab import META_FILE

__all__ = ["ArtifactStore", "ArtifactNotFound", "RetryPolicy", "is_object_store"]

T = TypeVar("T")

OBJECT_STORES = ("s3", "s3a")
PART_BYTES = 8 * 2**20  # multipart part size; PART_BYTES * PART_CONCURRENCY bytes in memory
PART_CONCURRENCY = 4  # parts of one file in flight
FILE_CONCURRENCY = 4  # files of one folder in flight
MAX_PARTS = 10_000  # S3's limit of parts per upload


def is_object_store(url: str) -> bool:
    """Whether ``url`` names an S3 bucket (``s3://``, ``s3a://``) rather than a folder."""
    return "://" in url and url.split("://", 1)[0] in OBJECT_STORES


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

    A key ending in ``/`` names a folder. Nothing half-written is ever read: locally, uploads go
    to a temporary name that is renamed into place. On S3 every object appears whole (a PUT,
    or the completion of a multipart upload, whose parts are the temporary copy, moved into
    place by the server); a folder is published by writing :data:`META_FILE` last, after
    deleting the commit file of the version it replaces, and a folder without it is refused as
    incomplete. Files are streamed in parts of :data:`PART_BYTES` (smaller ones go in one
    request), downloads in one streamed GET per file, so memory stays bounded whatever the
    size. Failures raise :class:`~nbflow.errors.StorageError` naming the endpoint and the key
    (:class:`ArtifactNotFound` for a missing artifact), after retrying transient ones.
    """

    def __init__(self, root: str, *, retry: RetryPolicy | None = None, **storage_options: Any):
        import fsspec

        self.root = root.rstrip("/")
        _refuse_credentials(self.root)
        self.remote = is_object_store(self.root)
        self.retry = retry or RetryPolicy()
        self._unfinished: set[str] = set()  # folders whose upload failed: listed when retried
        client = storage_options.get("client_kwargs") or {}
        self._endpoint_option = storage_options.get("endpoint_url") or client.get("endpoint_url")
        if self.remote:
            storage_options = _s3_options(storage_options)
        try:
            self.fs, self._base = fsspec.core.url_to_fs(self.root, **storage_options)
        except ImportError as exc:  # fsspec names the package to install
            raise StorageError(f"cannot open the artifact store {self.root}: {exc}") from None

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
        return bool(self._call("look up", key, lambda: self._exists(key)))

    def _exists(self, key: str) -> bool:
        if self.remote and key.endswith("/"):
            found = self.fs.find(self.path(key))
            return any(p.rsplit("/", 1)[-1] == META_FILE for p in found)
        return bool(self.fs.exists(self.path(key)))

    def upload(self, local: Path, key: str) -> None:
        """Store the file or folder ``local`` at ``key``, replacing what was there."""
        local = Path(local)
        if not local.exists():
            raise StorageError(f"cannot store {local} at {self.url(key)}: it does not exist")
        put = self._put_object if self.remote else self._put_fsspec
        if self.local_path(key) is not None:
            put = self._put_local
        self._call("store", key, lambda: put(local, key))

    def download(self, key: str, local: Path) -> None:
        """Copy ``key`` (a file, or a folder when ``key`` ends with ``/``) to ``local``."""
        local = Path(local)
        get = self._get_object if self.remote else self._get_fsspec
        if self.local_path(key) is not None:
            get = self._get_local
        self._call("fetch", key, lambda: get(key, local))

    def copy(self, src: str, dst: str) -> None:
        """Store a copy of ``src`` (a file, or a folder when it ends with ``/``) at ``dst``,
        replacing what was there, without the data going through this machine on S3
        (server-side copies) and with the same atomicity as :meth:`upload`."""
        local = self.local_path(src)
        if local is not None:
            if not local.exists():
                raise ArtifactNotFound(f"artifact not found: {self.url(src)}", self.url(src))
            self._call("store", dst, lambda: self._put_local(local, dst))
        elif self.remote:
            self._call("copy", dst, lambda: self._copy_object(src, dst))
        else:
            with tempfile.TemporaryDirectory(prefix="nbflow-copy-") as tmp:
                self.download(src, Path(tmp) / "artifact")
                self.upload(Path(tmp) / "artifact", dst)

    def read_bytes(self, key: str) -> bytes:
        """The content of the (small) file at ``key``."""
        data = self._call("read", key, lambda: self.fs.cat_file(self.path(key)))
        return bytes(data)

    def local_path(self, key: str) -> Path | None:
        """A local filesystem path for ``key`` when the store is local, else ``None``."""
        if getattr(self.fs, "protocol", None) in ("file", ("file", "local")):
            return Path(self.path(key))
        return None

    # ------------------------------------------------------------------ errors and retries

    def _call(self, action: str, key: str, fn: Callable[[], T]) -> T:
        url = self.url(key)

        def translate(exc: BaseException, failure: Failure, attempts: int, s: float) -> Any:
            return describe_failure(action, url, self.endpoint, exc, failure, attempts, s)

        return call_with_retries(fn, self.retry, f"{action} {url}", translate)

    # ----------------------------------------------------------- local and other fsspec filesystems

    def _put_fsspec(self, local: Path, key: str) -> None:
        final = self.path(key)
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if local.is_dir():
            self.fs.put(str(local), tmp, recursive=True)
        else:
            self.fs.put_file(str(local), tmp)
        if self.fs.exists(final):
            self.fs.rm(final, recursive=True)
        self.fs.mv(tmp, final, recursive=local.is_dir())

    def _put_local(self, local: Path, key: str) -> None:
        """:meth:`_put_fsspec` for a folder on this machine, with plain file copies."""
        final = Path(self.path(key))
        tmp = final.with_name(f"{final.name}.tmp-{uuid.uuid4().hex[:8]}")
        final.parent.mkdir(parents=True, exist_ok=True)
        if local.is_dir():
            shutil.copytree(local, tmp, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(local, tmp)
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() and tmp.is_dir():
            final.unlink()  # a folder replaces a file
        os.replace(tmp, final)

    def _get_local(self, key: str, local: Path) -> None:
        """:meth:`_get_fsspec` for a folder on this machine, with plain file copies."""
        src = Path(self.path(key))
        if not src.exists():
            raise ArtifactNotFound(f"artifact not found: {self.url(key)}", self.url(key))
        local.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            if local.exists():
                shutil.rmtree(local)
            shutil.copytree(src, local, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(src, local)

    def _get_fsspec(self, key: str, local: Path) -> None:
        src = self.path(key)
        if not self.fs.exists(src):
            raise ArtifactNotFound(f"artifact not found: {self.url(key)}", self.url(key))
        local.parent.mkdir(parents=True, exist_ok=True)
        if self.fs.isdir(src):
            if local.exists():
                shutil.rmtree(local)
            self.fs.get(src, str(local), recursive=True)
        else:
            self.fs.get_file(src, str(local))

    # ------------------------------------------------------------------ object stores

    def _put_object(self, local: Path, key: str) -> None:
        final = self.path(key)
        if local.is_dir():
            self._publish_folder(local, final)
        else:
            self.fs.put_file(str(local), final, **_part_options(local.stat().st_size))

    def _publish_folder(self, local: Path, final: str) -> None:
        from fsspec.asyn import sync

        files = {
            f"{final}/{p.relative_to(local).as_posix()}": p
            for p in sorted(local.rglob("*"))
            if p.is_file()
        }
        sync(self.fs.loop, self._publish, files, final)

    def _copy_object(self, src: str, dst: str) -> None:
        from fsspec.asyn import sync

        source, final = self.path(src), self.path(dst)
        if not src.endswith("/") and self.fs.isfile(source):
            self.fs.copy(source, final)
            return
        found = self.fs.find(source)
        rels = [_relative(f, source) for f in found]
        if not found or META_FILE not in {r.rsplit("/", 1)[-1] for r in rels}:
            raise ArtifactNotFound(f"artifact not found: {self.url(src)}", self.url(src))
        files = {f"{final}/{rel}": f for rel, f in zip(rels, found)}
        sync(self.fs.loop, self._publish, files, final)

    async def _publish(self, files: dict[str, Path | str], final: str) -> None:
        """Replace the folder ``final`` with ``files`` (target key to a local file, or to an
        object of the store, copied server-side): unpublish, write, then commit."""
        fs = self.fs
        commit = f"{final}/{META_FILE}"
        failed_before = final in self._unfinished
        self._unfinished.add(final)
        # A HEAD, not a LIST, in the common case of a new key; an earlier version, or what an
        # upload of this store left when it failed, is listed and replaced.
        if failed_before or await self._published(commit):
            old = await fs._find(final)
            if commit in old:
                await fs._rm_file(commit)  # first, so that no reader takes old and new mixed
            stale = [p for p in old if p not in files and p != commit]
            if stale:
                await fs._rm(stale)
        await self._put_all({remote: p for remote, p in files.items() if remote != commit})
        if commit in files:
            await self._put_all({commit: files[commit]})
        self._unfinished.discard(final)

    async def _published(self, commit: str) -> bool:
        bucket, key, _ = self.fs.split_path(commit)
        try:
            await self.fs._call_s3("head_object", Bucket=bucket, Key=key)
        except FileNotFoundError:
            return False
        return True

    async def _put_all(self, files: dict[str, Path | str]) -> None:
        import asyncio

        local = {k: p for k, p in files.items() if isinstance(p, Path)}
        if local:
            size = max(p.stat().st_size for p in local.values())
            await self.fs._put(
                [str(p) for p in local.values()],
                list(local),
                batch_size=FILE_CONCURRENCY,
                **_part_options(size),
            )
        copies = [(src, dst) for dst, src in files.items() if isinstance(src, str)]
        for start in range(0, len(copies), FILE_CONCURRENCY):
            batch = copies[start : start + FILE_CONCURRENCY]
            await asyncio.gather(*(self.fs._cp_file(src, dst) for src, dst in batch))

    def _get_object(self, key: str, local: Path) -> None:
        src = self.path(key)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            if key.endswith("/") or not self._get_file(src, tmp):
                self._get_folder(key, tmp)
            _replace(tmp, local)
        finally:
            _remove(tmp)

    def _get_file(self, src: str, tmp: Path) -> bool:
        """Stream the object ``src`` into ``tmp``; ``False`` when there is no such object."""
        try:
            # One streamed GET: ranged concurrent GETs would hold max_concurrency chunks in memory.
            self.fs.get_file(src, str(tmp), max_concurrency=1)
        except FileNotFoundError:
            return False
        return True

    def _get_folder(self, key: str, tmp: Path) -> None:
        src = self.path(key)
        files = self.fs.find(src)
        if not files:
            raise ArtifactNotFound(
                f"artifact not found: {self.url(key)} (endpoint {self.endpoint})", self.url(key)
            )
        rels = [_relative(f, src) for f in files]
        if META_FILE not in {r.rsplit("/", 1)[-1] for r in rels}:
            raise StorageError(
                f"artifact {self.url(key)} is incomplete (no {META_FILE}): "
                "the upload that wrote it did not finish"
            )
        targets = [tmp / r for r in rels]
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        paths = [str(t) for t in targets]
        self.fs.get(files, paths, batch_size=FILE_CONCURRENCY, max_concurrency=1)


def _s3_options(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    out.setdefault("use_listings_cache", False)  # other processes write the same prefixes
    out.setdefault("skip_instance_cache", True)  # the endpoint may come from the environment
    config = dict(out.get("config_kwargs") or {})
    # The RetryPolicy retries whole operations with the user's backoff; botocore's own retries
    # would add seconds of hidden waiting per request against an endpoint that is down.
    config.setdefault("retries", {"mode": "standard", "total_max_attempts": 1})
    out["config_kwargs"] = config
    return out


def _part_options(size: int) -> dict[str, int]:
    chunk = max(PART_BYTES, math.ceil(size / MAX_PARTS))
    return {"chunksize": chunk, "max_concurrency": PART_CONCURRENCY}


def _relative(path: str, prefix: str) -> str:
    rel = path[len(prefix) :].lstrip("/") if path.startswith(prefix + "/") else ""
    if not rel or any(part in ("", ".", "..") for part in rel.split("/")):
        raise StorageError(f"refusing to download {path!r}: not a plain name under {prefix!r}")
    return rel


def _replace(tmp: Path, local: Path) -> None:
    if local.is_dir() and not local.is_symlink():
        shutil.rmtree(local)
    elif local.exists() or local.is_symlink():
        local.unlink()
    os.replace(tmp, local)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _refuse_credentials(root: str) -> None:
    if "://" in root and "@" in urlsplit(root).netloc:
        raise StorageError(
            f"the artifact root {_without_userinfo(root)} must not hold credentials "
            "(user:secret@): it is recorded with every run; use the environment, an AWS "
            "profile or nbflow's storage_options"
        )
