"""The run history: one summary per run of the run store, filtered and paged, newest first.

:class:`RunIndex` keeps the summaries in memory and reads a run's record again only when its
``workflow.json`` changed (size or modification time), so that listing 1,000 runs costs one
directory scan and one ``stat`` per run rather than 1,000 JSON documents. The Jupyter server's
run list and :func:`list_summaries` (for one-off callers such as the CLI) use it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .summary import Summary, notebook_path, summarize
from .vocab import COMPLETED

if TYPE_CHECKING:
    from .config import NbflowConfig

__all__ = ["RunIndex", "list_summaries"]


@dataclass
class _Entry:
    stamp: tuple[int, int]  # workflow.json's (mtime_ns, size) when read
    order: tuple[float, int]  # (start time, run.json mtime_ns): newest first
    settings: dict[str, Any]
    summary: Summary


class RunIndex:
    """Summaries of the runs under ``runs_dir``, refreshed from file times.

    Parameters
    ----------
    runs_dir : Path
        The run store's folder (``<home>/runs``).
    root : Path, optional
        Notebook paths inside this folder are shown relative to it.

    Thread-safe: :meth:`refresh` may run in a worker thread while :meth:`query` serves.
    """

    def __init__(self, runs_dir: Path, root: Path | None = None) -> None:
        from .engine.store import RunStore

        self.store = RunStore(runs_dir)
        self.root = root.resolve() if root is not None else None
        self._entries: dict[str, _Entry] = {}
        self._sorted: list[str] | None = None
        self._lock = threading.Lock()
        self._pending: tuple[set[str], set[str]] = (set(), set())  # for drain()
        self._pinned: set[str] = set()  # runs whose summary comes from memory (put)
        self._followed: dict[str, dict[str, Any] | None] = {}  # run -> its record, last read
        self.refreshed_at: float | None = None  # time.monotonic() at the end of the last refresh
        self.unreadable: dict[str, str] = {}  # run -> why its record cannot be read

    def refresh(self) -> tuple[list[str], list[str]]:
        """Read the records that changed since the last refresh.

        Returns the runs whose summary changed (new ones included) and those that are gone.
        """
        seen: set[str] = set()
        changed: list[str] = []
        with self._lock:
            pinned = set(self._pinned)
        try:
            folders = list(os.scandir(self.store.root))
        except FileNotFoundError:
            folders = []
        for folder in folders:
            try:
                st = os.stat(os.path.join(folder.path, "workflow.json"))
            except (FileNotFoundError, NotADirectoryError):
                continue
            seen.add(folder.name)
            if folder.name in pinned:
                continue
            entry = self._entries.get(folder.name)
            stamp = (st.st_mtime_ns, st.st_size)
            if entry is not None and entry.stamp == stamp:
                if entry.summary["phase"] in COMPLETED:
                    continue
                if self._set_live(folder.name, entry):  # an engine ended without a last save
                    changed.append(folder.name)
                continue
            if self._read(folder.name, stamp):
                changed.append(folder.name)
        with self._lock:
            gone = [name for name in self._entries if name not in seen]
            for name in [n for n in self.unreadable if n not in seen]:
                del self.unreadable[name]
            for name in gone:
                del self._entries[name]
                self._followed.pop(name, None)
            if gone or changed:
                self._sorted = None
            self._pending[0].update(changed)
            self._pending[0].difference_update(gone)
            self._pending[1].update(gone)
            self._pending[1].difference_update(changed)
        self.refreshed_at = time.monotonic()
        return changed, gone

    def age_s(self) -> float:
        """Seconds since the last refresh ended (infinite before the first)."""
        return math.inf if self.refreshed_at is None else time.monotonic() - self.refreshed_at

    def drain(self) -> tuple[list[str], list[str]]:
        """The runs changed and gone, as refreshes found them (whoever asked for them) since
        the last drain: what a watcher reports."""
        with self._lock:
            (changed, gone), self._pending = self._pending, (set(), set())
        return sorted(changed), sorted(gone)

    def _read(self, name: str, stamp: tuple[int, int]) -> bool:
        from .errors import RecordError

        try:
            workflow, settings = self.store.load(name)
            created = self.store.run_dir(name).joinpath("run.json").stat().st_mtime_ns
        except RecordError as exc:  # corrupt, or cut short: said once, the others are listed
            self.unreadable[name] = str(exc)
            return False
        except (OSError, ValueError, LookupError):
            return False  # being created or deleted: the next refresh sees it whole
        self.unreadable.pop(name, None)
        with self._lock:
            if name in self._followed and settings.get("backend") != "argo":
                self._followed[name] = workflow
        return self._set(workflow, settings, self.live(name, workflow, settings), created, stamp)

    def _set(
        self,
        workflow: dict[str, Any],
        settings: dict[str, Any],
        live: bool,
        created: int,
        stamp: tuple[int, int] | None,
    ) -> bool:
        """Keep the run's summary (``stamp`` ``None``: from memory, pinned); return whether it
        changed."""
        name = workflow["metadata"]["name"]
        summary = summarize(workflow, settings, live=live, root=self.root)
        order = (_epoch(summary["startedAt"]) or created / 1e9, created)
        with self._lock:
            old = self._entries.get(name)
            if stamp is None:
                self._pinned.add(name)
                if self._followed.get(name) is not None:  # its file is not read while pinned
                    self._followed[name] = None
                stamp = old.stamp if old is not None else (0, 0)
            self._entries[name] = _Entry(stamp, order, settings, summary)
            if old is None or old.order != order:
                self._sorted = None
        return old is None or old.summary != summary

    def live(self, name: str, workflow: dict[str, Any], settings: dict[str, Any]) -> bool:
        """Whether an engine (or the cluster) works on run ``name`` now."""
        phase = (workflow.get("status") or {}).get("phase")
        if settings.get("backend") == "argo":
            return phase not in COMPLETED
        return phase not in COMPLETED and self.store.is_locked(name)

    def _set_live(self, name: str, entry: _Entry) -> bool:
        if entry.settings.get("backend") == "argo":
            return False
        live = self.store.is_locked(name)
        if live == entry.summary["live"]:
            return False
        with self._lock:
            entry.summary = {**entry.summary, "live": live}
        return True

    def put(self, workflow: dict[str, Any], settings: dict[str, Any], live: bool) -> bool:
        """Take a run's state from memory (a run driven in this process); return whether its
        summary changed. Its file, which may be behind, is not read until :meth:`release`."""
        name = workflow["metadata"]["name"]
        try:
            created = self.store.run_dir(name).joinpath("run.json").stat().st_mtime_ns
        except OSError:
            return False  # deleted meanwhile
        return self._set(workflow, settings, live, created, None)

    def release(self, name: str) -> None:
        """Read run ``name``'s record file again from the next refresh on (after :meth:`put`)."""
        with self._lock:
            self._pinned.discard(name)
            entry = self._entries.get(name)
            if entry is not None:
                entry.stamp = (0, 0)

    def follow(self, name: str, on: bool = True) -> None:
        """Keep (``on``) or stop keeping the record of run ``name`` that refreshes read, for
        :meth:`recorded`: a watcher of the run then does not read the file a second time."""
        with self._lock:
            if on:
                self._followed.setdefault(name, None)
            else:
                self._followed.pop(name, None)

    def recorded(self, name: str) -> dict[str, Any] | None:
        """The Workflow of followed run ``name`` as the last refresh that saw it change read
        it (``None``: not read since :meth:`follow`, or a cluster run: ask the cluster)."""
        with self._lock:
            return self._followed.get(name)

    def get(self, name: str) -> Summary | None:
        """The summary of run ``name`` (``None`` when it is not known)."""
        with self._lock:
            entry = self._entries.get(name)
            return entry.summary if entry is not None else None

    def settings(self, name: str) -> dict[str, Any] | None:
        """The recorded settings of run ``name`` (``run.json``)."""
        with self._lock:
            entry = self._entries.get(name)
            return entry.settings if entry is not None else None

    def query(
        self,
        *,
        workflow: str | None = None,
        phase: str | None = None,
        notebook: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> tuple[list[Summary], int]:
        """One page of summaries, newest first, and how many runs match in all.

        ``phase`` may name several phases, comma-separated; ``notebook`` is a path as the
        summaries show it (relative to the root) or an absolute one.
        """
        phases = {p.strip() for p in phase.split(",") if p.strip()} if phase else None
        wanted = None
        if notebook and os.path.isabs(notebook):
            wanted = notebook_path(os.path.normpath(notebook), self.root)
        elif notebook:
            wanted = Path(os.path.normpath(notebook)).as_posix()
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted(
                    self._entries, key=lambda n: self._entries[n].order, reverse=True
                )
            rows = [self._entries[n].summary for n in self._sorted]
        if workflow is not None:
            rows = [r for r in rows if r["workflow"] == workflow]
        if phases is not None:
            rows = [r for r in rows if r["phase"] in phases]
        if wanted is not None:
            rows = [r for r in rows if r["notebook"] == wanted]
        end = None if limit is None else offset + limit
        return rows[offset:end], len(rows)


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    from .engine.nodes import parse_timestamp

    return parse_timestamp(text).timestamp()


def list_summaries(
    *,
    config: NbflowConfig | None = None,
    root: Path | None = None,
    unreadable: dict[str, str] | None = None,
    **filters: Any,
) -> tuple[list[Summary], int]:
    """Summaries of the runs in the run store, newest first: ``(page, total)``.

    ``filters`` are those of :meth:`RunIndex.query` (``workflow``, ``phase``, ``notebook``,
    ``limit``, ``offset``). ``unreadable``, when given, receives the runs whose record cannot
    be read, with the one-line reason.
    """
    from .config import load_config

    cfg = config if config is not None else load_config()
    index = RunIndex(cfg.runs_dir, root)
    index.refresh()
    if unreadable is not None:
        unreadable.update(index.unreadable)
    return index.query(**filters)
