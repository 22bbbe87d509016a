"""The backend of a folder on this machine: plain file copies, then an atomic rename."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from .generic import FsspecBackend

__all__ = ["LocalBackend"]

Copier = Callable[[str, str], object]


def _link_or_copy(src: str, dst: str) -> object:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or one without hard links
        return shutil.copyfile(src, dst)
    return dst


def _copy_tree(src: Path, dst: Path, copy: Copier) -> None:
    """``shutil.copytree`` for artifacts, failing on the first error as it is (a full disk is
    an ``OSError`` with its errno, not one of a list of messages)."""
    dst.mkdir()
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir() and not path.is_symlink():
            target.mkdir(exist_ok=True)
        else:
            copy(str(path), str(target))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class LocalBackend(FsspecBackend):
    """Artifacts in a local folder (``file://``); fsspec's local copy costs ~5 ms a step."""

    def local_path(self, key: str) -> Path | None:
        """The artifact's path: it is a file or folder of this machine."""
        return Path(self.store.path(key))

    def put(self, local: Path, key: str, copy: Copier = shutil.copyfile) -> None:
        """Copy ``local`` next to its final place (with ``copy``), then rename it there."""
        final = Path(self.store.path(key))
        tmp = final.with_name(f"{final.name}.tmp-{uuid.uuid4().hex[:8]}")
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            if local.is_dir():
                _copy_tree(local, tmp, copy)
            else:
                copy(str(local), str(tmp))
        except BaseException:
            _remove(tmp)  # a disk that filled up must not keep half a copy
            raise
        self._publish(tmp, final)

    def _publish(self, tmp: Path, final: Path) -> None:
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() and tmp.is_dir():
            final.unlink()  # a folder replaces a file
        os.replace(tmp, final)

    def delete(self, key: str) -> None:
        """Remove the file or folder of ``key``."""
        path = Path(self.store.path(key))
        if path.exists() or path.is_symlink():
            _remove(path)
        root = Path(self.store.path(""))
        for parent in path.parents:  # folders left empty, up to the root
            if parent == root or root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def size(self, key: str) -> int:
        """Bytes of the file or folder of ``key``."""
        path = Path(self.store.path(key))
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

    def get(self, key: str, local: Path) -> None:
        """Copy the artifact's file or folder to ``local``."""
        src = Path(self.store.path(key))
        if not src.exists():
            raise self.not_found(key)
        local.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            if local.exists():
                shutil.rmtree(local)
            _copy_tree(src, local, shutil.copyfile)
        else:
            shutil.copyfile(src, local)

    def copy(self, src: str, dst: str) -> None:
        """Store ``src`` at ``dst`` too, as hard links of its files where the filesystem allows
        it (artifacts are never changed in place, only replaced), else as a copy."""
        path = Path(self.store.path(src))
        if not path.exists():
            raise self.not_found(src)
        self.put(path, dst, copy=_link_or_copy)
