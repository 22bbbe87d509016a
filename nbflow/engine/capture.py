"""Record what cells print and display as nbformat outputs, the way ipykernel and nbclient do.

Used inside a step process of the fast engine (:mod:`nbflow.engine.zygote`): the cells run in an
IPython ``InteractiveShell`` of that process, and the objects here turn what a kernel would send
over IOPub (streams, ``display_data``, ``execute_result``, ``error``, display updates and
``clear_output``) into the outputs nbclient would have written into the notebook.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, BinaryIO

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from papermill.engines import Engine, NotebookExecutionManager

__all__ = [
    "OutputSink",
    "CaptureStream",
    "FdCapture",
    "StepShell",
    "ShellEngine",
    "new_shell",
    "run_cell",
    "stamp",
    "language_info",
]

FLUSH_INTERVAL_S = 0.2  # ipykernel's OutStream.flush_interval: writes closer than this coalesce
STREAMS = ("stdout", "stderr")


def stamp() -> str:
    """The current UTC time as kernel message headers carry it (``...T12:00:00.000000Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def language_info() -> dict[str, Any]:
    """What ipykernel answers in ``kernel_info`` (nbclient copies it into the notebook)."""
    major = sys.version_info[0]
    return {
        "codemirror_mode": {"name": "ipython", "version": major},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": f"ipython{major}",
        "version": sys.version.split()[0],
    }


def _wire(obj: Any) -> Any:
    """A value as it looks after a trip over the kernel protocol (jupyter_client's JSON)."""
    import warnings

    from jupyter_client.session import json_packer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(json_packer(obj))


class OutputSink:
    """The outputs of the running notebook, filled as nbclient fills them from IOPub messages.

    Stream text is held per stream and emitted like ipykernel's ``OutStream``: writes closer than
    0.2 s to the first pending write join one output; a flush, another kind of output or the end
    of the cell emits it (stdout before stderr).
    """

    def __init__(self, cells: list[Any], log: BinaryIO | None = None) -> None:
        self.cells = cells
        self.log = log
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
            now = time.monotonic()
            self._emit_due(now)
            if self.log is not None:
                self.log.write(text.encode("utf-8", "replace"))
            start, parts = self._pending.setdefault(name, (now, []))
            parts.append(text)

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


class CaptureDisplayHook(DisplayHook):
    """``sys.displayhook``: the value of a cell's last expression becomes an ``execute_result``."""

    sink: OutputSink | None = None
    _format: tuple[Any, Any] | None = None

    def start_displayhook(self) -> None:
        self._format = None

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(self, format_dict: Any, md_dict: Any = None) -> None:
        self._format = (format_dict, md_dict)

    def finish_displayhook(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        if self._format is not None and self._format[0] and self.sink is not None:
            data, metadata = _wire(self._format)
            self.sink.add(
                "execute_result",
                data=data,
                metadata=metadata or {},
                execution_count=self.prompt_count,
            )
        self._format = None


class CaptureDisplayPublisher(DisplayPublisher):
    """``display()``, ``update_display`` and ``clear_output`` of a step."""

    sink: OutputSink | None = None

    def publish(
        self,
        data: Any,
        metadata: Any = None,
        *args: Any,
        transient: Any = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        self._validate_data(data, metadata)
        if self.sink is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        display_id = (transient or {}).get("display_id")
        data, metadata = _wire((data, metadata or {}))
        if update:
            self.sink.update(display_id, data, metadata)
        else:
            self.sink.add("display_data", display_id, data=data, metadata=metadata)

    def clear_output(self, wait: bool = False) -> None:
        if self.sink is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            self.sink.clear(wait)


class StepShell(InteractiveShell):
    """The step's IPython shell: outputs and errors go to an :class:`OutputSink`."""

    displayhook_class = CaptureDisplayHook
    display_pub_class = CaptureDisplayPublisher
    sink: OutputSink | None = None

    def attach(self, sink: OutputSink) -> None:
        """Send this shell's outputs to ``sink``."""
        self.sink = sink
        self.displayhook.sink = sink  # type: ignore[attr-defined]
        self.display_pub.sink = sink  # type: ignore[attr-defined]

    def _showtraceback(self, etype: Any, evalue: Any, stb: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        if self.sink is not None:
            ename, text = _wire((str(etype.__name__), str(evalue)))
            self.sink.add("error", ename=ename, evalue=text, traceback=_wire(stb))


def new_shell() -> StepShell:
    """A fresh shell configured as ipykernel configures its own (history kept in memory)."""
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    kwargs: dict[str, Any] = {"config": config}
    try:
        from ipykernel.compiler import XCachingCompiler
    except ImportError:  # pragma: no cover - ipykernel is a dependency
        pass
    else:
        kwargs["compiler_class"] = XCachingCompiler
    return StepShell.instance(**kwargs)


def no_input(prompt: object = "", stream: Any = None) -> str:
    """``input()`` in a step: a kernel run by papermill cannot ask for input either."""
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError(
        "raw_input was called, but this frontend does not support input requests."
    )


def run_cell(
    shell: StepShell, sink: OutputSink, cell: Any, index: int, fds: list[FdCapture]
) -> bool:
    """Run one cell as nbclient runs it; return False when the notebook must stop here."""
    tags = cell.metadata.get("tags", [])
    if cell.cell_type != "code" or not cell.source.strip() or "skip-execution" in tags:
        return True
    cell.metadata["execution"] = {}
    timing = cell.metadata["execution"]
    sink.begin(index)
    timing["iopub.status.busy"] = stamp()
    timing["iopub.execute_input"] = stamp()
    cell.execution_count = shell.execution_count
    result = shell.run_cell(cell.source, store_history=True)
    for fd in fds:
        fd.sync()
    sink.flush()
    timing["shell.execute_reply"] = stamp()
    timing["iopub.status.idle"] = stamp()
    if result.execution_count is not None:
        cell.execution_count = result.execution_count
    return bool(result.success) or "raises-exception" in tags


SAVE_EVERY_S = 1.0


class _Manager(NotebookExecutionManager):
    """papermill's bookkeeping, writing the notebook less often while cells run.

    papermill writes the notebook when it starts, when each cell starts and when each cell
    completes; a short step would spend more time writing it than running it. This writes it
    when it starts (so a process that dies in a cell still leaves its notebook, as a dead
    kernel does on the papermill path; what the cells printed is in the step's log), then at
    most once a second while cells run. The final notebook is always written.
    """

    def save(self, **kwargs: Any) -> None:
        since = (self.now() - self.last_save_time).total_seconds()
        if since >= SAVE_EVERY_S:
            super().save(**kwargs)

    def notebook_start(self, **kwargs: Any) -> None:
        super().notebook_start(**kwargs)
        super().save()

    def cell_complete(self, cell: Any, cell_index: Any = None, **kwargs: Any) -> None:
        """papermill's, without parsing the start time back with dateutil (it made it)."""
        end = self.now()
        meta = cell.metadata.papermill
        meta["end_time"] = end.isoformat()
        if meta.get("start_time"):
            meta["duration"] = (end - datetime.fromisoformat(meta["start_time"])).total_seconds()
        if meta["status"] != self.FAILED:
            meta["status"] = self.COMPLETED
        self.save()


class ShellEngine(Engine):
    """A papermill engine running the cells in this process's :class:`StepShell`."""

    name = "nbflow-shell"
    shell: StepShell | None = None
    captures: list[FdCapture] | None = None  # made ahead of time by the zygote
    log_handler: logging.Handler | None = None

    @classmethod
    def execute_notebook(
        cls, nb: Any, kernel_name: Any, output_path: Any = None, **kwargs: Any
    ) -> Any:
        manager = _Manager(nb, output_path=output_path, progress_bar=False)
        manager.notebook_start()
        try:
            cls.execute_managed_notebook(manager, kernel_name)
        finally:
            manager.notebook_complete()
        return manager.nb

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: Any, **kwargs: Any) -> None:
        assert cls.shell is not None
        nb = nb_man.nb
        papermill_log = logging.getLogger("papermill")
        if cls.log_handler is not None:
            papermill_log.removeHandler(cls.log_handler)
        # fd 1 is the step's log until FdCapture turns it into a pipe: keep a handle on the log.
        log = open(os.dup(1), "ab", buffering=0)  # noqa: SIM115 - closed below
        sink = OutputSink(nb.cells, log)
        cls.shell.attach(sink)
        fds = cls.captures or [FdCapture("stdout", 1), FdCapture("stderr", 2)]
        for fd in fds:
            fd.start(sink)
        saved = sys.stdout, sys.stderr
        sys.stdout = CaptureStream(sink, "stdout", 1, fds[0])
        sys.stderr = CaptureStream(sink, "stderr", 2, fds[1])
        try:
            for index, cell in enumerate(nb.cells):
                try:
                    nb_man.cell_start(cell, index)
                    if not run_cell(cls.shell, sink, cell, index, fds):
                        nb_man.cell_exception(nb.cells[index], cell_index=index)
                        break
                finally:
                    nb_man.cell_complete(nb.cells[index], cell_index=index)
        finally:
            sys.stdout, sys.stderr = saved
            for fd in fds:
                fd.close()
            log.close()
            if cls.log_handler is not None:
                papermill_log.addHandler(cls.log_handler)
        nb.metadata["language_info"] = language_info()
