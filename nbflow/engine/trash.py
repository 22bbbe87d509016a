"""Folders of finished pods, deleted by a helper process instead of by the engine.

``python -m nbflow.engine.trash`` is the helper: it reads folder paths (NUL-terminated) on
stdin, deletes each, and ends when stdin closes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

__all__ = ["Trash", "PREFIX"]

PREFIX = ".deleting-"  # a folder renamed for deletion; one left by a crash is deleted later


class Trash:
    """Deletes folders off the critical path: :meth:`discard` renames, a helper process removes.

    Deleting a pod's folder (its staged inputs, outputs and notebooks) takes dozens of system
    calls. Done by the engine, even in a thread of its own, each call hands the engine's GIL
    over and back, which delays the threads that stage and collect the next pods. A discarded
    folder is renamed at once (so a rerun of the same pod can make a fresh one) and deleted
    by a helper process that has an interpreter of its own. Folders that a crashed engine left
    behind are deleted by the next :class:`Trash` of the same parent folder; the helper also
    finishes its work when the engine dies.

    Parameters
    ----------
    parent : Path
        The folder that discarded folders live in (the run's ``pods`` folder).
    """

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self._names = itertools.count()
        self._lock = threading.Lock()
        self._helper: subprocess.Popen[bytes] | None = None
        self._pipe: IO[bytes] | None = None  # the helper's stdin while it takes folders
        try:  # without a helper, the engine deletes each folder itself
            self._helper = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # it has nothing to say; failures fall back here
                start_new_session=True,  # a Ctrl-C stops the engine, not the deleting
            )
            self._pipe = self._helper.stdin
        except OSError:
            pass
        if parent.is_dir():
            for left in parent.glob(f"{PREFIX}*"):
                self._delete(left)

    def discard(self, folder: Path) -> None:
        """Take ``folder`` away now; its content is deleted soon after (a missing one: no-op)."""
        trash = self.parent / f"{PREFIX}{os.getpid()}-{next(self._names)}-{folder.name}"
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return
        except OSError:  # another file system, say: delete it in place
            trash = folder
        self._delete(trash)

    def close(self, wait: bool = True) -> None:
        """Stop taking folders; wait until everything discarded so far is deleted.

        ``wait=False`` returns at once: the helper deletes the rest and ends by itself (even
        if this process ends first), and a background thread reaps it.
        """
        with self._lock:
            helper, self._helper, self._pipe = self._helper, None, None
        if helper is None:
            return
        if helper.stdin is not None:
            with contextlib.suppress(OSError):  # a dead helper's pipe may not flush
                helper.stdin.close()
        if wait:
            helper.wait()
        else:
            threading.Thread(target=helper.wait, name="nbflow-trash-reap", daemon=True).start()

    def _delete(self, folder: Path) -> None:
        with self._lock:
            if self._pipe is not None:
                try:
                    self._pipe.write(os.fsencode(folder) + b"\0")
                    self._pipe.flush()
                    return
                except OSError:  # the helper died: the engine deletes from now on
                    self._pipe = None
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    """The helper: delete every folder named on stdin until stdin closes."""
    pending = b""
    while chunk := os.read(0, 65536):
        *paths, pending = (pending + chunk).split(b"\0")
        for path in paths:
            shutil.rmtree(os.fsdecode(path), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
