"""The step's IPython shell, and the papermill engine that runs a notebook's cells in it.

A fast-engine step (:mod:`nbflow.engine.zygote`) runs its notebook through papermill's own
``execute_notebook`` with :class:`ShellEngine`: each cell runs in this process's
:class:`StepShell`, as nbclient would run it in a kernel, and what it displays, returns or raises
becomes the output a kernel would have sent (see :mod:`.capture` for the streams).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from papermill.engines import Engine, NotebookExecutionManager

from .capture import CaptureStream, FdCapture, OutputSink

__all__ = [
    "StepShell",
    "ShellEngine",
    "new_shell",
    "no_input",
    "run_cell",
    "stamp",
    "language_info",
]


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
            sink.finish()
            log.close()
            if cls.log_handler is not None:
                papermill_log.addHandler(cls.log_handler)
        nb.metadata["language_info"] = language_info()
