"""The backend of S3 (and S3-compatible servers): whole objects, folders committed last.

Every object appears whole (a PUT, or the completion of a multipart upload, whose parts are the
temporary copy, moved into place by the server); a folder is published by writing its
``nbflow.json`` (:data:`nbflow.vocab.META_FILE`) last, after deleting the commit file of the
version it replaces, and a folder without it is refused as incomplete. Files go up in parts of
:data:`PART_BYTES` and come down in one streamed GET each, so memory stays bounded.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StorageError
from ..storage_errors import ArtifactNotFound
from ..vocab import META_FILE
from .generic import FsspecBackend

if TYPE_CHECKING:
    from .store import ArtifactStore

__all__ = ["ObjectBackend", "PART_BYTES", "s3_options"]

PART_BYTES = 8 * 2**20  # multipart part size; PART_BYTES * PART_CONCURRENCY bytes in memory
PART_CONCURRENCY = 4  # parts of one file in flight
FILE_CONCURRENCY = 4  # files of one folder in flight
MAX_PARTS = 10_000  # S3's limit of parts per upload


class ObjectBackend(FsspecBackend):
    """Artifacts in an S3 bucket, through s3fs."""

    def __init__(self, store: ArtifactStore) -> None:
        super().__init__(store)
        self._unfinished: set[str] = set()  # folders whose upload failed: listed when retried

    def exists(self, key: str) -> bool:
        """Whether anything is stored at ``key``; a folder only once it is complete."""
        if key.endswith("/"):
            found = self.fs.find(self.store.path(key))
            return any(p.rsplit("/", 1)[-1] == META_FILE for p in found)
        return bool(self.fs.exists(self.store.path(key)))

    def put(self, local: Path, key: str) -> None:
        """Upload a file in parts, or publish a folder (commit file last)."""
        final = self.store.path(key)
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

    def copy(self, src: str, dst: str) -> None:
        """Copy server-side, with :meth:`put`'s atomicity."""
        from fsspec.asyn import sync

        source, final = self.store.path(src), self.store.path(dst)
        if not src.endswith("/") and self.fs.isfile(source):
            self.fs.copy(source, final)
            return
        found = self.fs.find(source)
        rels = [_relative(f, source) for f in found]
        if not found or META_FILE not in {r.rsplit("/", 1)[-1] for r in rels}:
            raise self.not_found(src)
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

    def get(self, key: str, local: Path) -> None:
        """Stream the object, or every file of a complete folder, into ``local``."""
        src = self.store.path(key)
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
        src = self.store.path(key)
        files = self.fs.find(src)
        if not files:
            url = self.store.url(key)
            where = f"{url} (endpoint {self.store.endpoint})"
            raise ArtifactNotFound(f"artifact not found: {where}", url)
        rels = [_relative(f, src) for f in files]
        if META_FILE not in {r.rsplit("/", 1)[-1] for r in rels}:
            raise StorageError(
                f"artifact {self.store.url(key)} is incomplete (no {META_FILE}): "
                "the upload that wrote it did not finish"
            )
        targets = [tmp / r for r in rels]
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        paths = [str(t) for t in targets]
        self.fs.get(files, paths, batch_size=FILE_CONCURRENCY, max_concurrency=1)


def s3_options(options: dict[str, Any]) -> dict[str, Any]:
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
