"""``synchronization``: the mutexes and semaphores a workflow or a template holds while it runs.

A lock is named as Argo names it (``Mutex/<name>``, ``Semaphore/<ConfigMap>/<key>``); a
semaphore's size is the value of its ConfigMap key (``--load``). Locks are held across the runs
of one home and across processes: :class:`FileLocks` keeps them as ``flock`` locks on files in
``<home>/locks/``, which the system releases if the engine dies. Database-backed locks
(``database:``, a cluster's) are held the same way, a semaphore of them one at a time.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ManifestError

if TYPE_CHECKING:
    from .operator import Operator

__all__ = ["Locks", "MemoryLocks", "FileLocks", "lock_key", "wanted", "hold", "LOCK_POLL_S"]

LOCK_POLL_S = 1.0  # how often a node waiting for a lock held by another run looks again


def lock_key(lock: dict[str, Any], limit_of: Callable[[dict[str, Any]], int]) -> tuple[str, int]:
    """``(name, size)`` of one item of ``synchronization.mutexes`` / ``semaphores``."""
    if "configMapKeyRef" in lock:
        ref = lock["configMapKeyRef"]
        return f"Semaphore/{ref.get('name')}/{ref.get('key')}", limit_of(ref)
    if isinstance(lock.get("database"), dict):
        return f"Semaphore/database/{lock['database'].get('key')}", 1
    return f"Mutex/{lock.get('name')}", 1


def wanted(sync: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The locks a ``synchronization`` block asks for (the lists, and v3's single forms)."""
    sync = sync or {}
    out = list(sync.get("mutexes") or []) + list(sync.get("semaphores") or [])
    out += [x for x in (sync.get("mutex"), sync.get("semaphore")) if x]
    return out


class Locks(Protocol):
    """Named locks of a given size; ``holder`` is a node id or the workflow's name."""

    def acquire(self, key: str, size: int, holder: str) -> bool:
        """Take one of ``size`` slots of ``key`` for ``holder`` (True if it holds one now)."""

    def release(self, holder: str) -> None:
        """Give back everything ``holder`` holds."""


class MemoryLocks:
    """Locks of one process (the pure operator's default, and tests')."""

    def __init__(self) -> None:
        self.held: dict[str, set[str]] = {}  # key -> holders

    def acquire(self, key: str, size: int, holder: str) -> bool:
        holders = self.held.setdefault(key, set())
        if holder in holders:
            return True
        if len(holders) >= size:
            return False
        holders.add(holder)
        return True

    def release(self, holder: str) -> None:
        for holders in self.held.values():
            holders.discard(holder)


class FileLocks:
    """Locks held as ``flock`` on ``<folder>/<key>.<slot>``: shared by every process of the
    machine that uses the same home."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.held: dict[str, dict[str, int]] = {}  # holder -> key -> fd

    def acquire(self, key: str, size: int, holder: str) -> bool:
        mine = self.held.setdefault(holder, {})
        if key in mine:
            return True
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)
        for slot in range(max(1, size)):
            fd = os.open(self.folder / f"{safe}.{slot}", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            mine[key] = fd
            return True
        return False

    def release(self, holder: str) -> None:
        for fd in (self.held.pop(holder, None) or {}).values():
            os.close(fd)  # closing the file releases its lock

    def close(self) -> None:
        """Release every lock this engine holds."""
        for holder in list(self.held):
            self.release(holder)


def semaphore_size(config_maps: dict[str, dict[str, str]]) -> Callable[[dict[str, Any]], int]:
    """How a semaphore's size is read: its ConfigMap key, a whole number."""

    def size(ref: dict[str, Any]) -> int:
        value = (config_maps.get(ref.get("name", "")) or {}).get(ref.get("key", ""))
        if value is None:
            raise ManifestError(
                f"semaphore {ref.get('name')}/{ref.get('key')}: ConfigMap {ref.get('name')!r} "
                "is not loaded (or has no such key): give the file that defines it with --load"
            )
        try:
            return int(str(value).strip())
        except ValueError:
            raise ManifestError(
                f"semaphore {ref.get('name')}/{ref.get('key')}: {value!r} is not a number"
            ) from None

    return size


def hold(op: Operator, sync: dict[str, Any] | None, holder: str, record: dict[str, Any]) -> bool:
    """Take every lock ``sync`` asks for, for ``holder``; while one is taken by another, say so
    in ``record`` (a node, or the status) and wait (Argo: ``Waiting for <lock> lock``)."""
    if not sync:
        return True
    for lock in wanted(sync):
        key, size = lock_key(lock, op.semaphore_size)
        if not op.locks.acquire(key, size, holder):
            op.locks.release(holder)
            if (record.get("synchronizationStatus") or {}).get("waiting") != key:
                record["synchronizationStatus"] = {"waiting": key}
                record["message"] = f"Waiting for {key} lock"
                op.changed.append(record.get("id", op.name))
            op.wake_at(op.now + timedelta(seconds=LOCK_POLL_S))
            return False
    if record.pop("synchronizationStatus", None) is not None:
        record.pop("message", None)
        op.changed.append(record.get("id", op.name))
    return True
