"""Fork servers started ahead of time, which a long-lived process (the Jupyter server) hands to
the engines it starts, so that their first step does not wait for a fork server to warm up.

An engine asks :func:`take` for a server of its kind (:class:`ServerKind`: zygotes, preloaded
modules, the steps' folder). Nothing is installed by default, and engines then start their own,
as ``nbflow run`` does. A process that runs many workflows installs a :class:`WarmServers`:
each kind that an engine asked for, or that :meth:`WarmServers.prepare` announced (e.g. when a
notebook is opened), gets one spare server, started in the background. An engine takes the spare
for itself, and a new spare of that kind starts behind it. Spares are exact matches only, so a
step sees the same preloaded modules whichever way its server was started.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fast import ForkServer

__all__ = ["ServerKind", "WarmServers", "install", "installed", "take"]


@dataclass(frozen=True)
class ServerKind:
    """What makes two fork servers interchangeable.

    Parameters
    ----------
    pool_size : int
        Zygotes kept ready.
    preload : tuple of str
        Modules imported before forking, in order.
    local_dirs : tuple of str
        Folders whose modules are never preloaded (the steps' working directory).
    """

    pool_size: int
    preload: tuple[str, ...]
    local_dirs: tuple[str, ...]

    @classmethod
    def of(
        cls, pool_size: int, preload: Sequence[str], local_dirs: Sequence[str | Path]
    ) -> ServerKind:
        """The kind of server an engine would start with these arguments."""
        return cls(pool_size, tuple(preload), tuple(str(d) for d in local_dirs))

    @classmethod
    def of_workflow(
        cls, workflow: dict[str, Any], max_workers: int, workdir: str | Path
    ) -> ServerKind:
        """The kind of server the fast engine starts for ``workflow`` (a prepared manifest):
        one zygote per step that may start at once, the modules its steps import."""
        from .fast import pool_size
        from .imports import discover

        parallelism = (workflow.get("spec") or {}).get("parallelism") or max_workers
        return cls.of(pool_size(min(max_workers, parallelism)), discover(workflow), [workdir])

    def start(self) -> ForkServer:
        """A new server of this kind, warming up in the background."""
        server = ForkServer(self.pool_size, self.preload, local_dirs=self.local_dirs)
        server.start()
        return server


class WarmServers:
    """One spare fork server for each of the latest ``max_kinds`` kinds of run.

    Parameters
    ----------
    max_kinds : int
        Spares kept at most; the kind used least recently gives its spare up first. 0 keeps
        none (every engine starts its own server).
    """

    def __init__(self, max_kinds: int = 2) -> None:
        self.max_kinds = max(0, max_kinds)
        self._spares: OrderedDict[ServerKind, ForkServer] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def take(self, kind: ServerKind) -> ForkServer | None:
        """The spare of ``kind`` for the caller to own (``None``: none ready), and a new spare
        of that kind for the next run."""
        with self._lock:
            server = self._spares.pop(kind, None)
        if server is not None and not server.alive():
            server.close(wait=False)
            server = None
        self.prepare(kind)
        return server

    def prepare(self, kind: ServerKind) -> None:
        """Have a spare of ``kind`` ready (started now when there is none)."""
        with self._lock:
            if self._closed or self.max_kinds == 0:
                return
            if kind in self._spares:
                self._spares.move_to_end(kind)
                return
            self._spares[kind] = kind.start()
            evicted = []
            while len(self._spares) > self.max_kinds:
                evicted.append(self._spares.popitem(last=False)[1])
        for server in evicted:
            server.close(wait=False)

    def spare(self, kind: ServerKind) -> ForkServer | None:
        """The spare of ``kind``, left in place (``None``: none)."""
        with self._lock:
            return self._spares.get(kind)

    def kinds(self) -> list[ServerKind]:
        """Kinds with a spare, least recently used first."""
        with self._lock:
            return list(self._spares)

    def close(self) -> None:
        """Stop every spare; later requests get none."""
        with self._lock:
            self._closed = True
            spares, self._spares = list(self._spares.values()), OrderedDict()
        for server in spares:
            server.close(wait=True)


_installed: WarmServers | None = None


def install(servers: WarmServers | None) -> WarmServers | None:
    """Make ``servers`` the spares engines of this process take from (``None``: no spares);
    return the ones installed before."""
    global _installed
    previous, _installed = _installed, servers
    return previous


def installed() -> WarmServers | None:
    """The spares installed in this process, if any."""
    return _installed


def take(kind: ServerKind) -> ForkServer | None:
    """A started server of ``kind`` from the installed spares, or ``None`` (start your own)."""
    servers = _installed
    return servers.take(kind) if servers is not None else None
