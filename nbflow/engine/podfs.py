"""The file system a host pod sees (``--host-exec``), and where each of its paths lives here.

A host pod runs in its own root: a folder of the pod (``<pod>/root``) in which this machine's
system folders (``/usr``, ``/etc``, ...) are visible read-only, and everything else is the
pod's own: ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are private folders, a path such as
``/result.txt`` or ``/mnt/out`` is a file or folder of the pod's root, volumes are folders
bound at their mount paths, and a declared path inside a system folder gets a private copy of
that folder (its entries stay visible, new files are the pod's). Paths are normalised first;
a path that would leave the pod's folders (``/tmp/../../etc/hostname``) is refused.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NbflowError

__all__ = [
    "Bind", "PodFS", "declared_paths", "host_entries", "normalise", "PRIVATE", "NOT_SHARED"
]

#: Host folders never shown to a pod: replaced by the pod's own (or by fresh kernel file
#: systems: /proc, /sys, /dev are mounted by the sandbox).
NOT_SHARED = frozenset({"proc", "sys", "dev", "tmp", "mnt", "media", "lost+found", "boot"})
#: Folders every pod has privately, whatever the host has there.
PRIVATE = ("/tmp", "/var/tmp", "/dev/shm")


def host_entries() -> dict[str, str]:
    """The host's top-level entries a pod sees read-only: name -> ``dir``, ``file`` or
    ``link``."""
    out = {}
    for entry in os.scandir("/"):
        if entry.name in NOT_SHARED:
            continue
        if entry.is_symlink():
            out[entry.name] = "link"
        elif entry.is_dir():
            out[entry.name] = "dir"
        elif entry.is_file():
            out[entry.name] = "file"
    return out


def normalise(path: str, what: str) -> str:
    """``path`` as an absolute, normalised pod path; refuse relative paths."""
    if not path.startswith("/"):
        raise NbflowError(f"{what} {path!r}: a pod path must be absolute")
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/")  # normpath keeps a leading '//'


def declared_paths(inputs: dict[str, Any], outputs: dict[str, Any]) -> list[tuple[str, str]]:
    """``(path, what)`` of each artifact and parameter path in a pod's ``inputs`` and a
    template's ``outputs``."""
    out = [(a["path"], "input artifact path") for a in inputs.get("artifacts") or []
           if a.get("path")]
    out += [(a["path"], "output artifact path") for a in outputs.get("artifacts") or []
            if a.get("path")]
    out += [(p["valueFrom"]["path"], "output parameter path")
            for p in outputs.get("parameters") or [] if (p.get("valueFrom") or {}).get("path")]
    return out


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass
class Bind:
    """A folder (or file) of this machine bound at a pod path."""

    source: Path
    target: str
    read_only: bool = False
    shadow: bool = False  # a private copy of a host folder: its entries are bound into it


@dataclass
class PodFS:
    """Where the paths of one host pod live on this machine.

    Parameters
    ----------
    pod_dir : Path
        The pod's folder (removed after the pod).
    """

    pod_dir: Path
    binds: list[Bind] = field(default_factory=list)
    host: dict[str, str] = field(default_factory=host_entries)

    def __post_init__(self) -> None:
        for private in PRIVATE:
            self.bind(self.pod_dir / "private" / private.strip("/").replace("/", "-"), private)

    @property
    def root(self) -> Path:
        """The folder that is the pod's ``/``."""
        return self.pod_dir / "root"

    def bind(self, source: Path, target: str, read_only: bool = False) -> None:
        """Show ``source`` at pod path ``target`` (a later bind under it stays visible)."""
        target = normalise(target, "mount path")
        if target == "/":
            raise NbflowError("a volume cannot be mounted at /")
        self.binds = [b for b in self.binds if b.target != target]
        self.binds.append(Bind(source, target, read_only))

    def _bind_of(self, path: str) -> Bind | None:
        found = [b for b in self.binds if _under(path, b.target)]
        return max(found, key=lambda b: len(b.target)) if found else None

    def in_host_folder(self, path: str) -> bool:
        """Whether ``path`` lies in one of the host's read-only folders (and no bind)."""
        top = path.strip("/").split("/")[0]
        return self._bind_of(path) is None and top in self.host

    def declare(self, path: str, what: str) -> None:
        """Make room for a declared path (an artifact or parameter): inside a host folder, the
        folder holding it becomes a private copy."""
        path = normalise(path, what)
        if not self.in_host_folder(path):
            return
        parent = posixpath.dirname(path)
        if parent == "/" or self.host.get(parent.strip("/").split("/")[0]) != "dir":
            raise NbflowError(f"{what} {path}: the host's {parent} cannot hold a pod's files")
        source = self.pod_dir / "shadow" / parent.strip("/")
        self.binds.append(Bind(source, parent, shadow=True))

    def local(self, path: str, what: str = "path") -> Path:
        """Where pod path ``path`` lives on this machine.

        Raises
        ------
        NbflowError
            ``path`` is relative, or lies in a host folder (read-only, not the pod's).
        """
        path = normalise(path, what)
        bind = self._bind_of(path)
        if bind is not None:
            rest = path[len(bind.target) :].lstrip("/")
            return bind.source / rest if rest else bind.source
        if self.in_host_folder(path):
            raise NbflowError(
                f"{what} {path} is in the host's read-only {'/' + path.strip('/').split('/')[0]}"
                ": the local engine keeps a pod's files in /tmp, its volumes and its own folders"
            )
        return self.root / path.lstrip("/")

    def inside(self, local: Path) -> bool:
        """Whether ``local`` (resolved, symbolic links followed) is one of the pod's own files:
        an output that is a link to a file of the host is never read."""
        real = Path(os.path.realpath(local))
        roots = [self.pod_dir, *(b.source for b in self.binds if not b.read_only)]
        return any(real == r.resolve() or r.resolve() in real.parents for r in roots)
