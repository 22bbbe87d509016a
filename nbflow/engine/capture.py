"""Record what a step prints as nbformat stream outputs, the way ipykernel and nbclient do.

Used inside a step process of the fast engine (:mod:`nbflow.engine.zygote`): the cells run in an
IPython shell of that process (:mod:`.shell`), and an :class:`OutputSink` collects the outputs
nbclient would have written into the notebook from what a kernel would send over IOPub (streams,
``display_data``, ``execute_result``, ``error``, display updates and ``clear_output``). Streams
come through :class:`CaptureStream` (``sys.stdout``/``sys.stderr``) and :class:`FdCapture` (file
descriptors 1 and 2: subprocesses and C code).
"""

from __future__ import annotations

import codecs
import io
import os
import threading
import time
from typing import Any, BinaryIO

from ..budget import OutputBudget

__all__ = ["OutputSink", "CaptureStream", "FdCapture"]

FLUSH_INTERVAL_S = 0.2  # ipykernel's OutStream.flush_interval: writes closer than this coalesce
STREAMS = ("stdout", "stderr")


class OutputSink:
    """The outputs of the running notebook, filled as nbclient fills them from IOPub messages.

    Stream text is held per stream and emitted like ipykernel's ``OutStream``: writes closer than
    0.2 s to the first pending write join one output; a flush, another kind of output or the end
    of the cell emits it (stdout before stderr).
    """

    def __init__(
        self, cells: list[Any], log: BinaryIO | None = None, budget: OutputBudget | None = None
    ) -> None:
        self.cells = cells
        self.log = log
        self.budget = budget or OutputBudget()  # what the log and the notebook keep
        self._marker: Any = None  # the output saying how much was cut, once something was
        self.index = -1
        self.lock = threading.RLock()
        self._pending: dict[str, tuple[float, list[str]]] = {}
        self._display_map: dict[str, dict[int, list[int]]] = {}
        self._clear_next = False

    @property
    def outputs(self) -> list[Any]:
        return self.cells[self.index]["outputs"]

    def begin(self, index: int) -> None:
        """Direct the following outputs to cell ``index``."""
        with self.lock:
            self.index = index
            self._clear_next = False
            self.cells[index]["outputs"] = []

    def stream(self, name: str, text: str) -> None:
        """Text written to ``stdout`` or ``stderr``."""
        if not text:
            return
        with self.lock:
            text = self.budget.take(text)
            if text:
                now = time.monotonic()
                self._emit_due(now)
                if self.log is not None:
                    self.log.write(text.encode("utf-8", "replace"))
                start, parts = self._pending.setdefault(name, (now, []))
                parts.append(text)
            if self.budget.cut:
                self._mark()

    def _mark(self) -> None:
        """Put the marker where output starts being cut (its count is final at :meth:`finish`)."""
        if self._marker is not None or self.index < 0:
            return
        import nbformat

        self.flush()
        self._marker = nbformat.v4.new_output("stream", name="stderr", text="")
        self._append(self._marker)

    def finish(self) -> None:
        """Emit what is pending and say, in the notebook and the log, how much was cut."""
        with self.lock:
            self.flush()
            marker = self.budget.marker
            if marker is None:
                return
            if self._marker is not None:
                self._marker["text"] = marker
            if self.log is not None:
                self.log.write(marker.encode("utf-8"))

    def flush(self, name: str | None = None) -> None:
        """Emit pending stream text now (one stream, or both in ipykernel's order)."""
        with self.lock:
            self._emit_due(time.monotonic())
            for stream in STREAMS if name is None else (name,):
                if stream in self._pending:
                    self._emit(stream)

    def _emit_due(self, now: float) -> None:
        due = sorted(
            (start, name)
            for name, (start, _) in self._pending.items()
            if now - start >= FLUSH_INTERVAL_S
        )
        for _, name in due:
            self._emit(name)

    def _emit(self, name: str) -> None:
        import nbformat

        _, parts = self._pending.pop(name)
        if self.index >= 0:
            self._append(nbformat.v4.new_output("stream", name=name, text="".join(parts)))

    def _append(self, output: Any, display_id: str | None = None) -> None:
        if self._clear_next:
            self._clear_next = False
            self.outputs[:] = []
            self._forget_cell()
        if display_id:
            ids = self._display_map.setdefault(display_id, {}).setdefault(self.index, [])
            ids.append(len(self.outputs))
        self.outputs.append(output)

    def _forget_cell(self) -> None:
        for cells in self._display_map.values():
            if self.index in cells:
                cells[self.index] = []

    def add(self, kind: str, display_id: str | None = None, **fields: Any) -> None:
        """An ``execute_result``, ``display_data`` or ``error`` output."""
        import nbformat

        with self.lock:
            self.flush()
            if self.index < 0:
                return
            if display_id:
                self._update(display_id, fields.get("data", {}), fields.get("metadata", {}))
            self._append(nbformat.v4.new_output(kind, **fields), display_id)

    def update(self, display_id: str | None, data: Any, metadata: Any) -> None:
        """An ``update_display_data``: replace every output shown with ``display_id``."""
        with self.lock:
            self.flush()
            if display_id:
                self._update(display_id, data, metadata)

    def _update(self, display_id: str, data: Any, metadata: Any) -> None:
        for index, positions in self._display_map.get(display_id, {}).items():
            outputs = self.cells[index]["outputs"]
            for pos in positions:
                outputs[pos]["data"] = data
                outputs[pos]["metadata"] = metadata

    def clear(self, wait: bool) -> None:
        """``clear_output``: now, or just before the next output when ``wait``."""
        with self.lock:
            self.flush()
            if wait:
                self._clear_next = True
            elif self.index >= 0:
                self.outputs[:] = []
                self._forget_cell()


class CaptureStream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of a step: text goes to the sink (and the step's log)."""

    def __init__(
        self, sink: OutputSink, name: str, fd: int, capture: FdCapture | None = None
    ) -> None:
        super().__init__()
        self.sink = sink
        self._name = name
        self._fd = fd
        self._capture = capture

    @property
    def name(self) -> str:
        return f"<{self._name}>"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.sink.stream(self._name, text)
        return len(text)

    def flush(self) -> None:
        if self._capture is not None:
            self._capture.sync()  # what C code and subprocesses wrote so far comes first
        self.sink.flush(self._name)


class FdCapture:
    """Route file descriptor ``fd`` (1 or 2) into the sink, as ipykernel's ``capture_fd_output``.

    Output of subprocesses and C code goes through a pipe that a thread reads. The pipe and
    the thread can be made ahead of time; :meth:`start` points the descriptor at the pipe.
    :meth:`sync` waits until everything written before it has reached the sink; before
    :meth:`start` and after :meth:`close` there is nothing to wait for.
    """

    def __init__(self, name: str, fd: int) -> None:
        self.sink: OutputSink | None = None
        self.name, self.fd = name, fd
        self.marker = os.urandom(12).hex().encode()
        self.read, self._write = os.pipe()
        self.saved = -1
        self.active = False
        self.seen = threading.Event()
        self.broken = False
        self.thread = threading.Thread(target=self._pump, name=f"nbflow-{name}", daemon=True)
        self.thread.start()

    def start(self, sink: OutputSink) -> None:
        """Send what is written to the descriptor to ``sink`` from now on."""
        self.sink = sink
        self.saved = os.dup(self.fd)
        os.dup2(self._write, self.fd)
        os.close(self._write)
        self.active = True

    def _pump(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        carry = b""
        while True:
            chunk = os.read(self.read, 65536)
            if not chunk:
                break
            data = carry + chunk
            sink = self.sink
            assert sink is not None  # nothing reaches the pipe before start()
            while self.marker in data:
                before, _, data = data.partition(self.marker)
                sink.stream(self.name, decoder.decode(before))
                self.seen.set()
            keep = _marker_prefix(data, self.marker)
            carry = data[len(data) - keep :] if keep else b""
            sink.stream(self.name, decoder.decode(data[: len(data) - keep]))

    SYNC_TIMEOUT_S = 2.0

    def sync(self, timeout_s: float = SYNC_TIMEOUT_S) -> None:
        """Wait until what was written to the descriptor so far is in the sink."""
        if self.broken or not self.active:
            return  # e.g. a stream of the step flushed as it is collected, after the notebook
        self.seen.clear()
        try:
            os.write(self.fd, self.marker)
        except OSError:
            self.broken = True
            return
        if not self.seen.wait(timeout_s):
            self.broken = True  # the code redirected or closed the descriptor: stop waiting

    def close(self) -> None:
        """Give the descriptor back its original target."""
        self.active = False
        os.dup2(self.saved, self.fd)
        os.close(self.saved)
        self.thread.join(0.5)


def _marker_prefix(data: bytes, marker: bytes) -> int:
    """Length of the longest end of ``data`` that could start ``marker``."""
    for size in range(min(len(marker) - 1, len(data)), 0, -1):
        if marker.startswith(data[-size:]):
            return size
    return 0
