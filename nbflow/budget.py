"""How much of a step's printed output is kept, in its log and its executed notebook (stdlib only).

A step that prints gigabytes must not fill the disk, nor the memory of whatever reads its log
or notebook later. Both engines pass every piece of stdout/stderr text through one
:class:`OutputBudget` per step: the first ``limit`` bytes are kept, the rest is counted and cut,
and a marker says how much was cut. The limit reaches the step in ``$NBFLOW_MAX_OUTPUT_BYTES``
(``c.NbflowConfig.max_output_bytes``).
"""

from __future__ import annotations

import os

from .vocab import MAX_OUTPUT_ENV

__all__ = ["OutputBudget", "DEFAULT_MAX_OUTPUT_BYTES", "MAX_OUTPUT_ENV", "size_text"]

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
        if self.cut:
            self.cut += len(text.encode("utf-8", "replace"))
            return ""
        size = len(text.encode("utf-8", "replace"))
        room = self.limit - self.kept
        if size <= room:
            self.kept += size
            return text
        head = text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
        kept = len(head.encode("utf-8"))
        self.kept += kept
        self.cut += size - kept
        return head

    @property
    def marker(self) -> str | None:
        """The line that says how much was cut (``None`` while nothing was)."""
        if not self.cut:
            return None
        return (
            f"\n[nbflow: {size_text(self.cut)} of output cut here: a step keeps the first "
            f"{size_text(self.limit)} of what it prints (c.NbflowConfig.max_output_bytes)]\n"
        )
