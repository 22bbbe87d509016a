"""How much of a step's printed output is kept, in its log and its executed notebook (stdlib only).

A step that prints gigabytes must not fill the disk, nor the memory of whatever reads its log
or notebook later. Both engines pass every piece of stdout/stderr text through one
:class:`OutputBudget` per step: the first ``limit`` bytes are kept, the rest is counted and cut,
and a marker says how much was cut. The limit reaches the step in ``$NBFLOW_MAX_OUTPUT_BYTES``
(``c.NbflowConfig.max_output_bytes``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .vocab import MAX_OUTPUT_ENV

__all__ = [
    "OutputBudget",
    "DEFAULT_MAX_OUTPUT_BYTES",
    "MAX_OUTPUT_ENV",
    "size_text",
    "capped_output",
]

DEFAULT_MAX_OUTPUT_BYTES = 10 * 2**20


def size_text(n: float) -> str:
    """``1536`` → ``1.5 KiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop returns


class OutputBudget:
    """The bytes of output a step may still keep.

    Parameters
    ----------
    limit : int, optional
        Bytes of text kept (UTF-8); 0 or less keeps everything. Default:
        ``$NBFLOW_MAX_OUTPUT_BYTES``, else :data:`DEFAULT_MAX_OUTPUT_BYTES`.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is None:
            try:
                limit = int(os.environ.get(MAX_OUTPUT_ENV) or DEFAULT_MAX_OUTPUT_BYTES)
            except ValueError:
                limit = DEFAULT_MAX_OUTPUT_BYTES
        self.limit = limit
        self.kept = 0
        self.cut = 0

    def take(self, text: str) -> str:
        """The part of ``text`` to keep (all of it, a head, or ``""``); the rest is counted."""
        if self.limit <= 0:
            return text
        data = text.encode("utf-8", "replace")
        size = len(data)
        if self.cut:
            self.cut += size
            return ""
        room = self.limit - self.kept
        if size <= room:
            self.kept += size
            return text
        head = data[:room].decode("utf-8", "ignore")
        kept = len(head.encode("utf-8"))
        self.kept += kept
        self.cut += size - kept
        return head

    def take_bytes(self, data: bytes) -> bytes:
        """:meth:`take` for raw bytes (what a file descriptor carries)."""
        if self.limit <= 0:
            return data
        room = max(0, self.limit - self.kept)
        kept = data[:room]
        self.kept += len(kept)
        self.cut += len(data) - len(kept)
        return kept

    @property
    def marker(self) -> str | None:
        """The line that says how much was cut (``None`` while nothing was)."""
        if not self.cut:
            return None
        return (
            f"\n[nbflow: {size_text(self.cut)} of output cut here: a step keeps the first "
            f"{size_text(self.limit)} of what it prints (c.NbflowConfig.max_output_bytes)]\n"
        )


@contextmanager
def capped_output(budget: OutputBudget | None = None) -> Iterator[OutputBudget]:
    """Pass everything written to file descriptors 1 and 2 meanwhile, by this process and the
    processes it starts (a kernel, and what its cells run), through ``budget``.

    Both go, in the order written, to where descriptor 1 went before (the step's log); what
    the budget does not keep is read and dropped as it comes, and the marker is written at
    the end. Memory stays a few pipe buffers, however much is written.
    """
    budget = budget or OutputBudget()
    if budget.limit <= 0:
        yield budget
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    read, write = os.pipe()
    os.dup2(write, 1)
    os.dup2(write, 2)
    os.close(write)
    pump = threading.Thread(target=_pump, args=(read, saved[0], budget), daemon=True)
    pump.start()
    try:
        yield budget
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        pump.join(5.0)  # a process the step left running may hold the pipe: do not wait on it
        marker = budget.marker
        if marker is not None:
            os.write(saved[0], marker.encode("utf-8"))
        for fd in saved:
            os.close(fd)


def _pump(read: int, target: int, budget: OutputBudget) -> None:
    with open(read, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            kept = budget.take_bytes(chunk)
            if kept:
                os.write(target, kept)
