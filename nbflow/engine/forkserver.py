"""The fork server's process: warm up once, then fork a zygote for every step (see :mod:`.fast`).

``python -m nbflow.engine.forkserver`` reads requests on stdin and answers on stdout, JSON lines
(:class:`.fast.ForkServer` is the other end). Single-threaded: it forks, hands jobs to zygotes,
answers when a step reports its exit code and reaps.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .zygote import make_pristine_shell, run_step, zygote

__all__ = ["main", "BASE_PRELOAD", "PAPERMILL_BACKENDS"]

# What every step needs, imported once before forking. The traceback machinery (stack_data,
# pygments) is otherwise imported on a step's first error.
BASE_PRELOAD = (
    "ctypes",
    "IPython.core.interactiveshell",
    "IPython.core.completer",
    "IPython.core.magics",
    "IPython.core.ultratb",
    "stack_data",
    "pygments.lexers.python",
    "pygments.formatters.terminal256",
    "jupyter_client.session",
    "ipykernel.compiler",
    "nbformat",
    "papermill.execute",
    "nbflow.handoff",
    "nbflow.marshal",
    "nbflow.runner",
    "nbflow.engine.shell",
)


# Clients of remote stores papermill's I/O layer imports when it can (s3://, gs://, hdfs://,
# abs://, adl://, github). A step reads and writes local files only, and these weigh ~20 MB
# (numpy included, through pyarrow), which every fork would copy page tables for and every step's
# exit would unmap. A step that imports one of them itself gets it as usual.
PAPERMILL_BACKENDS = ("boto3", "botocore", "pyarrow", "gcsfs", "github", "azure")


@contextlib.contextmanager
def _without(names: Sequence[str]) -> Iterator[None]:
    """Make ``import NAME`` fail for ``names`` inside the block (modules not imported yet)."""
    blocked = [n for n in names if n not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def main(argv: list[str] | None = None) -> int:
    """The server process: warm up, then fork one zygote per step until stdin closes."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m nbflow.engine.forkserver")
    p.add_argument("--pool", type=int, default=1)
    p.add_argument("--preload", action="append", default=[])
    p.add_argument("--local", action="append", default=[])
    args = p.parse_args(argv)
    # The protocol keeps the original stdin/stdout; what imports print goes to stderr.
    requests, replies = os.dup(0), os.dup(1)
    # jupyter_server#1559: nbformat's validator would import rfc3987_syntax, seconds of CPU.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != cwd]
    from .imports import preload

    with _without(PAPERMILL_BACKENDS):
        loaded, skipped = preload(BASE_PRELOAD, [])
    more, not_loaded = preload(args.preload, [*args.local, cwd])
    loaded += more
    skipped.update(not_loaded)
    with contextlib.suppress(Exception):  # a warm-up only: steps do the same and report failures
        _warm()
    learned = _learn_imports()
    for name in learned:
        with contextlib.suppress(BaseException):
            importlib.import_module(name)
    # A kernel's sys.path: '' (the working directory) just before site-packages.
    at = next((i for i, p in enumerate(sys.path) if p.endswith("-packages")), len(sys.path))
    sys.path.insert(at, "")
    make_pristine_shell()
    from .. import runner

    runner._parser()  # built once here rather than in every step (argparse is slow to build)
    # What the server holds now lives as long as it: keep the collector of every step away from
    # it (a full collection would walk, and so copy, every page shared with the server).
    import gc

    gc.collect()
    gc.freeze()
    server = _Server(requests, replies, args.pool)
    server.reply(event="ready", preloaded=loaded, skipped=skipped, learned=learned)
    code = server.serve()
    # Nothing of the server's needs finalising: skip the interpreter's teardown, which walks
    # the whole preloaded heap while the engine waits for the server to end.
    sys.stderr.flush()
    os._exit(code)


def _warm() -> None:
    """Fill the caches a step's bookkeeping fills (nbformat's validator, papermill's parser)."""
    import tempfile

    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from ..notebook.step import NOTEBOOK_METADATA

    nb = nbformat.v4.new_notebook(metadata=json.loads(json.dumps(NOTEBOOK_METADATA)))
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x")]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("m")]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "warm.ipynb")
        nbformat.write(nb, path)
        nbformat.writes(parameterize_notebook(load_notebook_node(path), {"x": 2}))
        # The hand-off's first save looks up serialiser plugins (entry points): do it once here.
        from .. import marshal

        marshal.save(1, Path(tmp, "value"), name="x")
        marshal.load(Path(tmp, "value"))


# What the sample step runs: a template's code reading an input, printing, displaying rich
# output and returning a value, then a cell that raises.
_SAMPLE_CODE = (
    "y = x + i\nprint(y)\nfrom IPython.display import HTML, display\ndisplay(HTML('<b>y</b>'))\ny"
)
_SAMPLE_ERROR = "def f():\n    return 1 / 0\n\n\nf()"


LEARN_TIMEOUT_S = 60.0


def _learn_imports() -> list[str]:
    """Run a sample step in a throwaway child; return the modules that imported on the way.

    IPython, papermill and the traceback machinery import more modules lazily while a step
    runs; importing them here saves every step that time.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the throwaway child
        os.close(read)
        with contextlib.suppress(BaseException):
            before = set(sys.modules)
            os.write(write, json.dumps(_sample_step(before)).encode())
        os._exit(0)
    os.close(write)
    import select

    with os.fdopen(read, "rb") as pipe:
        ready, _, _ = select.select([pipe], [], [], LEARN_TIMEOUT_S)
        data = pipe.read() if ready else b""
    _killpg(pid)  # gone already, unless it hangs
    os.waitpid(pid, 0)
    try:
        names = json.loads(data)
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str) and not n.startswith("_")]


def _sample_step(before: set[str]) -> list[str]:
    import tempfile

    import nbformat

    from .. import marshal
    from ..model import Template
    from ..notebook.step import build_step_notebook
    from .shell import new_shell

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    template = Template(
        "sample", _SAMPLE_CODE, inputs=("x",), outputs=("y",), parameters={"i": 0}
    )
    nb = nbformat.from_dict(build_step_notebook(template))
    nb.cells.append(nbformat.v4.new_code_cell(_SAMPLE_ERROR))
    with tempfile.TemporaryDirectory() as tmp:
        nbformat.write(nb, os.path.join(tmp, "step.ipynb"))
        marshal.save(1, Path(tmp, "inputs", "x"), name="x")
        os.environ["NBFLOW_TERMINATION_LOG"] = os.path.join(tmp, "termination-log")
        run_step(["--dir", tmp, "--template", "sample", "-p", "i", "2"], new_shell())
    return sorted(set(sys.modules) - before)


class _Server:
    """The single-threaded loop: requests in, zygotes forked and reaped, exits out."""

    def __init__(self, requests: int, replies: int, pool: int) -> None:
        self.requests, self.replies, self.pool = requests, replies, pool
        # (pid, write end of its job pipe, read end of its status pipe)
        self.idle: list[tuple[int, int, int]] = []
        # pid -> its request id until answered (None after: it reported; only reaping is left)
        self.running: dict[int, int | None] = {}
        self.status_of: dict[int, int] = {}  # read end of a status pipe not read yet -> pid
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def reply(self, **message: Any) -> None:
        data = json.dumps(message).encode() + b"\n"
        while data:
            data = data[os.write(self.replies, data) :]

    def serve(self) -> int:
        import select

        self.refill()
        buffer = b""
        while True:
            ready, _, _ = select.select([self.requests, self.wake_r, *self.status_of], [], [])
            for fd in ready:
                if fd in self.status_of:
                    self.reported(fd)
            if self.wake_r in ready:
                while True:
                    try:
                        if not os.read(self.wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                self.reap()
            if self.requests in ready:
                chunk = os.read(self.requests, 65536)
                if not chunk:
                    return self.shutdown()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self.handle(json.loads(line))
            self.refill()  # keep zygotes ready: the next step should not wait for one

    def handle(self, msg: dict[str, Any]) -> None:
        if msg["op"] == "kill":
            for pid in [p for p, rid in self.running.items() if rid == msg["id"]]:
                _killpg(pid)
            return
        data = json.dumps(msg["job"]).encode()
        while True:
            if not self.idle:
                self.fork()  # all zygotes taken: this job waits while one warms up
            pid, fd, status = self.idle.pop(0)
            try:
                while data:
                    data = data[os.write(fd, data) :]
            except OSError:  # that zygote died while idle; it is reaped later
                os.close(fd)
                os.close(status)
                data = json.dumps(msg["job"]).encode()
                continue
            os.close(fd)
            self.running[pid] = msg["id"]
            self.status_of[status] = pid
            return

    def fork(self) -> None:
        read, write = os.pipe()
        status_r, status_w = os.pipe()  # the child writes its exit code there when it is done
        os.set_blocking(status_r, False)
        keep_closed = [self.requests, self.replies, self.wake_r, self.wake_w, write, status_r]
        keep_closed += [fd for _, job, status in self.idle for fd in (job, status)]
        keep_closed += list(self.status_of)
        pid = os.fork()
        if pid == 0:
            zygote(read, status_w, keep_closed)  # never returns
        os.close(read)
        os.close(status_w)
        self.idle.append((pid, write, status_r))

    def refill(self) -> None:
        while len(self.idle) < self.pool:
            self.fork()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.running:
                rid = self.running.pop(pid)
                unread = [fd for fd, p in self.status_of.items() if p == pid]
                finished = any([self._take_status(fd) for fd in unread])  # each one closed
                if rid is None:
                    continue  # answered when it reported
                code = os.waitstatus_to_exitcode(status)
                if code < 0:
                    self.reply(id=rid, code=None, signal=-code, died=True)
                else:
                    self.reply(id=rid, code=code, signal=None, died=not finished)
            else:
                for entry in [e for e in self.idle if e[0] == pid]:
                    self.idle.remove(entry)
                    os.close(entry[1])
                    os.close(entry[2])

    def reported(self, fd: int) -> None:
        """A step's status pipe is readable: answer at once if it finished (before its exit,
        which takes a while), else (it closed without a word: it died) wait to reap it."""
        pid = self.status_of[fd]
        data = self._take_status(fd)
        rid = self.running[pid]
        if data and rid is not None:
            self.running[pid] = None
            self.reply(id=rid, code=int(data), signal=None, died=False)

    def _take_status(self, fd: int) -> bytes:
        """Read a status pipe once and close it: the exit code, or nothing if the step died
        (or a process it forked still holds the pipe: its end is then told by reaping)."""
        try:
            return os.read(fd, 16)
        except BlockingIOError:
            return b""
        finally:
            del self.status_of[fd]
            os.close(fd)

    def shutdown(self) -> int:
        for pid in self.running:
            _killpg(pid)
        for pid, fd, status in self.idle:
            os.close(fd)
            os.close(status)
            _killpg(pid)
        for _ in range(len(self.running) + len(self.idle)):
            try:
                os.wait()
            except ChildProcessError:
                break
        return 0


def _killpg(pid: int) -> None:
    """Kill a step and what it started (its process group, once it made one)."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
