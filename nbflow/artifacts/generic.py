"""The backend of any fsspec filesystem: write under a temporary name, then move into place."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from ..storage_errors import ArtifactNotFound

if TYPE_CHECKING:
    from .store import ArtifactStore

__all__ = ["FsspecBackend"]


class FsspecBackend:
    """Artifacts on a filesystem fsspec knows; the base of the other backends.

    Parameters
    ----------
    store : ArtifactStore
        The store it serves: its filesystem, paths and URLs.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.fs = store.fs

    def not_found(self, key: str) -> ArtifactNotFound:
        """The error for nothing at ``key``."""
        url = self.store.url(key)
        return ArtifactNotFound(f"artifact not found: {url}", url)

    def local_path(self, key: str) -> Path | None:
        """A path on this machine for ``key``, where there is one."""
        return None

    def exists(self, key: str) -> bool:
        """Whether anything is stored at ``key``."""
        return bool(self.fs.exists(self.store.path(key)))

    def read(self, key: str) -> bytes:
        """The content of the (small) file at ``key``."""
        return bytes(self.fs.cat_file(self.store.path(key)))

    def put(self, local: Path, key: str) -> None:
        """Store ``local`` (a file or folder) at ``key``, replacing what was there."""
        final = self.store.path(key)
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if local.is_dir():
            self.fs.put(str(local), tmp, recursive=True)
        else:
            self.fs.put_file(str(local), tmp)
        if self.fs.exists(final):
            self.fs.rm(final, recursive=True)
        self.fs.mv(tmp, final, recursive=local.is_dir())

    def get(self, key: str, local: Path) -> None:
        """Copy ``key`` (a file, or a folder) to ``local``."""
        src = self.store.path(key)
        if not self.fs.exists(src):
            raise self.not_found(key)
        local.parent.mkdir(parents=True, exist_ok=True)
        if self.fs.isdir(src):
            if local.exists():
                shutil.rmtree(local)
            self.fs.get(src, str(local), recursive=True)
        else:
            self.fs.get_file(src, str(local))

    def copy(self, src: str, dst: str) -> None:
        """Store a copy of ``src`` at ``dst``: through this machine, as this filesystem has no
        copy that :meth:`put`'s atomicity could rely on."""
        with tempfile.TemporaryDirectory(prefix="nbflow-copy-") as tmp:
            self.get(src, Path(tmp) / "artifact")
            self.put(Path(tmp) / "artifact", dst)
