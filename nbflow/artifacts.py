"""The artifact store: files and folders under one fsspec URL, written atomically."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from .errors import StorageError

__all__ = ["ArtifactStore"]


class ArtifactStore:
    """Artifacts addressed by key (``<workflow>/<run>/<task>[/<item>]/<name>``) under a root URL.

    Parameters
    ----------
    root : str
        An fsspec URL: ``file:///abs/path`` (the default store) or ``s3://bucket/prefix``.
    storage_options : dict, optional
        Passed to the fsspec filesystem (e.g. an S3 endpoint); never written anywhere.

    A key ending in ``/`` names a folder. Uploads go to a temporary key first and are moved into
    place, so a reader never sees half an artifact.
    """

    def __init__(self, root: str, **storage_options: Any) -> None:
        import fsspec

        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root, **storage_options)

    def path(self, key: str) -> str:
        """The filesystem path of ``key`` (without protocol)."""
        return f"{self._base}/{key.strip('/')}"

    def url(self, key: str) -> str:
        """The full URL of ``key``."""
        return f"{self.root}/{key.lstrip('/')}"

    def exists(self, key: str) -> bool:
        """Whether anything is stored at ``key``."""
        return bool(self.fs.exists(self.path(key)))

    def upload(self, local: Path, key: str) -> None:
        """Store the file or folder ``local`` at ``key``, replacing what was there."""
        final = self.path(key)
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            if local.is_dir():
                self.fs.put(str(local), tmp, recursive=True)
            else:
                self.fs.put_file(str(local), tmp)
            if self.fs.exists(final):
                self.fs.rm(final, recursive=True)
            self.fs.mv(tmp, final, recursive=local.is_dir())
        except OSError as exc:
            raise StorageError(f"cannot store {local} at {self.url(key)}: {exc}") from exc

    def download(self, key: str, local: Path) -> None:
        """Copy ``key`` (a file, or a folder when ``key`` ends with ``/``) to ``local``."""
        src = self.path(key)
        if not self.fs.exists(src):
            raise StorageError(f"artifact not found: {self.url(key)}")
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            if self.fs.isdir(src):
                if local.exists():
                    shutil.rmtree(local)
                self.fs.get(src, str(local), recursive=True)
            else:
                self.fs.get_file(src, str(local))
        except OSError as exc:
            raise StorageError(f"cannot fetch {self.url(key)}: {exc}") from exc

    def read_bytes(self, key: str) -> bytes:
        """The content of the file at ``key``."""
        try:
            with self.fs.open(self.path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise StorageError(f"artifact not found: {self.url(key)}") from None

    def local_path(self, key: str) -> Path | None:
        """A local filesystem path for ``key`` when the store is local, else ``None``."""
        if getattr(self.fs, "protocol", None) in ("file", ("file", "local")):
            return Path(self.path(key))
        return None
