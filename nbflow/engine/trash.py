"""Folders of finished pods, deleted by a background thread instead of by the pod's worker."""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import threading
from pathlib import Path

__all__ = ["Trash", "PREFIX"]

PREFIX = ".deleting-"  # a folder renamed for deletion; one left by a crash is deleted later


class Trash:
    """Deletes folders off the critical path: :meth:`discard` renames, a thread removes.

    Deleting a pod's folder (its staged inputs, outputs and notebooks) costs a millisecond or
    more of system calls; a worker that did it itself would start its next step that much later.
    A discarded folder is renamed at once (so a rerun of the same pod can make a fresh one)
    and removed by one daemon thread. Folders that a crashed engine left behind are removed
    by the next :class:`Trash` of the same parent folder.

    Parameters
    ----------
    parent : Path
        The folder that discarded folders live in (the run's ``pods`` folder).
    """

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self._queue: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._names = itertools.count()
        self._thread = threading.Thread(target=self._work, name="nbflow-trash", daemon=True)
        self._thread.start()
        if parent.is_dir():
            for left in parent.glob(f"{PREFIX}*"):
                self._queue.put(left)

    def discard(self, folder: Path) -> None:
        """Take ``folder`` away now; its content is deleted soon after (a missing one: no-op)."""
        trash = self.parent / f"{PREFIX}{os.getpid()}-{next(self._names)}-{folder.name}"
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return
        except OSError:  # another file system, say: delete it in place
            trash = folder
        self._queue.put(trash)

    def close(self) -> None:
        """Wait until everything discarded so far is deleted; stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        while (folder := self._queue.get()) is not None:
            shutil.rmtree(folder, ignore_errors=True)
