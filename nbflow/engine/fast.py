"""The fast step executor: a pre-warmed fork server runs each step in a fresh forked IPython shell.

The engine starts one server process per run (``python -m nbflow.engine.fast``). It imports
IPython, nbformat, papermill, nbflow's hand-off and the pipeline's common imports once, builds
one ``InteractiveShell`` that never runs anything, then keeps a few *zygotes* ready: forked
children, each with its own copy of that fresh shell, waiting for one step. A step becomes
``nbflow.runner``'s work done in that child: papermill's own ``execute_notebook`` (so the
injected-parameters cell, metadata and error cells are papermill's) with an engine that runs the
cells in the child's shell instead of a kernel. Every step gets its own process, namespace and
module state; a crash ends only that step.

The engine talks to the server over its stdin/stdout (JSON lines); the server, single-threaded,
forks and reaps. :class:`ForkServer` is the engine's side, safe to share between threads.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ForkServer", "StepRequest", "StepExit", "pool_size", "fallback_reason"]

STOPPED, DEADLINE, LOST = "stopped", "deadline", "fork server exited"


@dataclass(frozen=True)
class StepRequest:
    """One step for the fork server: ``nbflow.runner``'s arguments and the pod's process context.

    Parameters
    ----------
    args : list of str
        Arguments of ``python -m nbflow.runner`` (``--dir DIR --template NAME -p NAME JSON ...``).
    env : dict
        The step's complete environment.
    cwd : str
        Working directory of the step.
    log_path : str
        File that receives the step's stdout and stderr (appended to).
    deadline_s : float, optional
        Kill the step after this many seconds.
    """

    args: list[str]
    env: dict[str, str]
    cwd: str
    log_path: str
    deadline_s: float | None = None


@dataclass(frozen=True)
class StepExit:
    """How a step ended: an exit ``code`` (0 ok, 1 failed, 2 usage) or a ``signal``.

    ``reason`` is set when the step did not end by itself: :data:`STOPPED` (cancelled),
    :data:`DEADLINE`, or :data:`LOST` (the fork server died). ``died`` is true when the step's
    process exited without finishing the step (``os._exit`` in a cell, a signal): what a dead
    kernel is on the papermill path.
    """

    code: int | None
    signal: int | None = None
    reason: str | None = None
    died: bool = False

    @property
    def message(self) -> str | None:
        """A one-line description of an abnormal end, as ``nbflow.runner`` words a dead kernel."""
        if self.reason == LOST:
            return "the fast engine's fork server exited unexpectedly"
        if self.signal is not None and self.reason is None:
            sig = self.signal
            name = signal.Signals(sig).name if sig in signal.valid_signals() else "signal"
            hint = ": out of memory?" if sig == signal.SIGKILL else ""
            return f"kernel died: exit code {-sig} ({name}{hint})"
        if self.died and self.reason is None:
            return f"kernel died: exit code {self.code}"
        return None


def pool_size(max_workers: int) -> int:
    """Zygotes to keep ready: one per step that may start at once, at most one per core."""
    from ..config import usable_cores

    return max(1, min(max_workers, usable_cores()))


def fallback_reason(template: dict[str, Any]) -> str | None:
    """Why ``template``'s pods must go through papermill and a kernel (``None``: they need not)."""
    from .imports import notebook_imports, step_notebook

    if not hasattr(os, "fork") or sys.platform in ("darwin", "win32"):
        return f"fork() is not safe on {sys.platform}"
    args = list((template.get("container") or {}).get("args") or [])
    if "--kernel" in args and args[args.index("--kernel") + 1 :][:1] != ["python3"]:
        return "the step asks for another kernel"
    nb = step_notebook(template)
    if nb is None:
        return "no step notebook"
    spec = (nb.get("metadata") or {}).get("kernelspec") or {}
    if spec.get("name", "python3") != "python3" or spec.get("language", "python") != "python":
        return f"the step notebook's kernel is {spec.get('name')!r}"
    elsewhere = _foreign_kernel()
    if elsewhere:
        return elsewhere
    widgets = {"ipywidgets", "anywidget"} & {m.split(".")[0] for m in notebook_imports(nb)}
    if widgets:
        return f"it uses {sorted(widgets)[0]} (widgets need a real kernel's comms)"
    return None


@functools.lru_cache(maxsize=1)
def _foreign_kernel() -> str | None:
    """Why the ``python3`` kernel papermill would start is not this Python, if it is not."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        spec = KernelSpecManager().get_kernel_spec("python3")
    except (ImportError, NoSuchKernel):
        return "no python3 kernel is installed"
    program = spec.argv[0] if spec.argv else ""
    # jupyter_client runs a spec whose program is plain "python" with this interpreter
    plain = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}
    same = program in plain or os.path.realpath(program) == os.path.realpath(sys.executable)
    if not same:
        return f"the python3 kernel runs another Python ({program})"
    if spec.env:
        return "the python3 kernel sets environment variables of its own"
    return None


@dataclass
class _Slot:
    proc: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: StepExit | None = None


class ForkServer:
    """The engine's handle on a fork server process; :meth:`run` is safe from many threads.

    Parameters
    ----------
    pool_size : int
        Zygotes kept ready (see :func:`pool_size`).
    preload : sequence of str
        Modules to import in the server before forking (besides nbflow's own needs).
    local_dirs : sequence of path
        Folders whose modules are never preloaded (the steps' working directory).
    stderr_path : path, optional
        File for the server's own diagnostics (default: discarded).
    """

    def __init__(
        self,
        pool_size: int = 1,
        preload: Sequence[str] = (),
        *,
        local_dirs: Sequence[str | Path] = (),
        stderr_path: str | Path | None = None,
    ) -> None:
        self.pool_size = max(1, pool_size)
        self.preload = list(preload)
        self.local_dirs = [str(d) for d in local_dirs]
        self.stderr_path = stderr_path
        self.ready = threading.Event()
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}
        self._ids = itertools.count(1)

    def start(self, preload: Sequence[str] | None = None) -> None:
        """Start the server (it warms up in the background; :meth:`run` waits for it)."""
        with self._lock:
            if preload is not None:
                self.preload = list(preload)
            self._spawn()

    def _spawn(self) -> None:
        argv = [sys.executable, "-m", "nbflow.engine.fast", "--pool", str(self.pool_size)]
        for name in self.preload:
            argv += ["--preload", name]
        for folder in self.local_dirs:
            argv += ["--local", folder]
        err: Any = subprocess.DEVNULL
        if self.stderr_path is not None:
            err = open(self.stderr_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, bufsize=0
            )
        finally:
            if err is not subprocess.DEVNULL:
                err.close()
        self.ready.clear()
        old, self._proc = self._proc, proc
        if old is not None and old.stdin is not None:
            old.stdin.close()  # a server that died: its reader closes the other end
        self._reader = threading.Thread(
            target=self._read, args=(proc,), name="nbflow-fork", daemon=True
        )
        self._reader.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            msg = json.loads(line)
            if msg.get("event") == "ready":
                self.info = msg
                self.ready.set()
                continue
            with self._lock:
                slot = self._slots.pop(msg["id"], None)
            if slot is not None:
                slot.result = StepExit(msg.get("code"), msg.get("signal"), died=msg["died"])
                slot.done.set()
        proc.wait()
        proc.stdout.close()
        with self._lock:
            lost = {i: s for i, s in self._slots.items() if s.proc is proc}
            for rid in lost:
                del self._slots[rid]
        for slot in lost.values():
            slot.result = StepExit(None, None, LOST)
            slot.done.set()

    def _send(self, message: dict[str, Any]) -> bool:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return False
        try:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
        except (BrokenPipeError, ValueError):
            return False
        return True

    def run(self, request: StepRequest, cancel: threading.Event | None = None) -> StepExit:
        """Run one step to its end (or until ``cancel`` is set or its deadline passes)."""
        job = {"args": request.args, "env": request.env, "cwd": request.cwd}
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None and not self.ready.is_set():
                    self.preload = []  # it died warming up: a preloaded module is to blame
                self._spawn()
            slot = _Slot(self._proc)
            rid = next(self._ids)
            self._slots[rid] = slot
            sent = self._send({"op": "run", "id": rid, "job": {**job, "log": request.log_path}})
        if not sent:
            with self._lock:
                self._slots.pop(rid, None)
            return StepExit(None, None, LOST)
        return self._wait(rid, slot, request.deadline_s, cancel)

    def _wait(
        self, rid: int, slot: _Slot, deadline_s: float | None, cancel: threading.Event | None
    ) -> StepExit:
        end = None if deadline_s is None else time.monotonic() + deadline_s
        killed: str | None = None
        while not slot.done.wait(0.05):
            if killed is None and cancel is not None and cancel.is_set():
                killed = STOPPED
            elif killed is None and end is not None and time.monotonic() >= end:
                killed = DEADLINE
            else:
                continue
            with self._lock:
                self._send({"op": "kill", "id": rid})
        assert slot.result is not None
        if killed is not None and slot.result.reason is None:
            return StepExit(slot.result.code, slot.result.signal, killed)
        return slot.result

    def close(self, wait: bool = True) -> None:
        """Stop the server; steps still running are killed.

        ``wait=False`` returns at once: the server ends by itself once its input is closed,
        and a background thread reaps it (its teardown, ~10 ms, then delays nobody).
        """
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        reader = self._reader
        if wait:
            _reap(proc, reader)
        else:
            threading.Thread(
                target=_reap, args=(proc, reader), name="nbflow-fork-reap", daemon=True
            ).start()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reap(proc: subprocess.Popen[bytes], reader: threading.Thread | None) -> None:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if reader is not None:
        reader.join()


# ---------------------------------------------------------------------------- server process

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
    "nbflow.engine.capture",
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

    p = argparse.ArgumentParser(prog="python -m nbflow.engine.fast")
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
    _make_pristine_shell()
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
    from .capture import new_shell

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
        _run(["--dir", tmp, "--template", "sample", "-p", "i", "2"], new_shell())
    return sorted(set(sys.modules) - before)


class _Server:
    """The single-threaded loop: requests in, zygotes forked and reaped, exits out."""

    def __init__(self, requests: int, replies: int, pool: int) -> None:
        self.requests, self.replies, self.pool = requests, replies, pool
        # (pid, write end of its job pipe, read end of its status pipe)
        self.idle: list[tuple[int, int, int]] = []
        # pid -> [request id, read end of its status pipe]; either is None once the step is
        # answered (it reported how it ended) or its status pipe is read, until it is reaped
        self.running: dict[int, list[Any]] = {}
        self.status_of: dict[int, int] = {}  # status pipe -> pid, while it may still report
        self.ids: dict[int, int] = {}  # request id -> pid, until answered
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
            pid = self.ids.get(msg["id"])
            if pid is not None:
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
            self.running[pid] = [msg["id"], status]
            self.status_of[status] = pid
            self.ids[msg["id"]] = pid
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
            _zygote(read, status_w, keep_closed)  # never returns
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
                rid, status_fd = self.running.pop(pid)
                finished = False
                if status_fd is not None:
                    del self.status_of[status_fd]
                    with contextlib.suppress(BlockingIOError):
                        finished = bool(os.read(status_fd, 16))
                    os.close(status_fd)
                if rid is None:
                    continue  # answered when it reported
                self.ids.pop(rid, None)
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
        try:
            data = os.read(fd, 16)
        except BlockingIOError:
            return
        pid = self.status_of.pop(fd)
        os.close(fd)
        entry = self.running[pid]
        entry[1] = None
        if data:
            rid, entry[0] = entry[0], None
            self.ids.pop(rid, None)
            self.reply(id=rid, code=int(data), signal=None, died=False)

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


# ---------------------------------------------------------------------------- zygote and step

# What ipykernel and jupyter_client put in a kernel's environment.
KERNEL_ENV = {
    "TERM": "xterm-color",
    "CLICOLOR": "1",
    "FORCE_COLOR": "1",
    "CLICOLOR_FORCE": "1",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "PYDEVD_USE_FRAME_EVAL": "NO",
}


_PRISTINE: Any = None  # the shell every step gets a copy of


def _make_pristine_shell() -> None:
    """Make, once, the shell each step starts from: it never runs anything in the server.

    Each forked step gets its own copy of it, as fresh as one made in the step (and a history
    database of its own), without paying ~15 ms of CPU per step to build it.
    """
    import atexit

    global _PRISTINE
    from .capture import new_shell

    _PRISTINE = new_shell()
    atexit.unregister(_PRISTINE.atexit_operations)  # nothing to clean up in the server


def _zygote(job_fd: int, status_fd: int, inherited: list[int]) -> None:
    """A forked child: get ready for one step, wait for it, run it, exit. Never returns.

    Its exit code goes to ``status_fd`` too: a step whose process exits without writing it
    (``os._exit`` in a cell) died, as a kernel would have.
    """
    code = 70
    try:
        os.setsid()  # its own process group: a kill reaches the step's subprocesses too
        _die_with_parent()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in inherited:
            os.close(fd)
        import atexit

        atexit._clear()  # the server's exit handlers are not this step's
        from .capture import FdCapture, ShellEngine, new_shell

        shell = _PRISTINE if _PRISTINE is not None else new_shell()
        history: Any = shell.history_manager
        history.init_db()  # a database of its own, not the server's connection
        history.new_session()
        ShellEngine.captures = [FdCapture("stdout", 1), FdCapture("stderr", 2)]
        chunks = []
        while chunk := os.read(job_fd, 65536):
            chunks.append(chunk)
        os.close(job_fd)
        if not chunks:
            code = 0  # the server is shutting down
            return
        code = _step(json.loads(b"".join(chunks)), shell)
        atexit._run_exitfuncs()
    except BaseException:  # never let a child go back into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            os.write(status_fd, b"%d" % code)
        os._exit(code)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the fork server dies (``PR_SET_PDEATHSIG``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(0)


def _step(job: dict[str, Any], shell: Any) -> int:
    """Become the step's process (folder, environment, log), then run it like ``nbflow.runner``."""
    import builtins
    import getpass

    from .capture import no_input

    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    os.environ.update(KERNEL_ENV, JPY_PARENT_PID=str(os.getppid()))
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The finder of the new working directory may be one the server cached before the folder
    # changed (it compares modification times only): look at the folder afresh.
    sys.path_importer_cache.pop(os.getcwd(), None)
    log = os.open(job["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.argv = [sys.argv[0]]
    builtins.input = no_input
    getpass.getpass = no_input
    shell.history_manager.dir_hist[:] = [os.getcwd()]
    return _run(job["args"], shell)


def _run(argv: list[str], shell: Any) -> int:
    """``nbflow.runner.main`` with papermill's kernel swapped for this process's shell."""
    from pathlib import Path

    from papermill.engines import papermill_engines

    from .. import runner
    from .capture import ShellEngine

    args = runner._parser().parse_args(argv)
    step_dir = Path(args.dir).resolve()
    source = step_dir / "step.ipynb"
    if not source.is_file():
        runner._terminate(f"no step notebook at {source}")
        return runner.EXIT_USAGE
    decoded = step_dir / "step.decoded.ipynb"
    decoded.write_text(runner.read_step_notebook(source), encoding="utf-8")
    for sub in ("outputs", "parameters"):
        (step_dir / sub).mkdir(parents=True, exist_ok=True)
    os.environ["NBFLOW_STEP_DIR"] = str(step_dir)
    os.environ["NBFLOW_TEMPLATE"] = args.template
    parameters = {name: runner.decode_value(value) for name, value in args.parameter}
    kernel = args.kernel or runner._kernel_name(decoded)
    ShellEngine.shell = shell
    papermill_engines.register(ShellEngine.name, ShellEngine)
    return _execute(decoded, step_dir / "notebook.ipynb", parameters, kernel)


def _execute(source: Path, target: Path, parameters: dict[str, Any], kernel: str) -> int:
    import logging

    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .. import runner
    from .capture import ShellEngine

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("papermill").addHandler(handler)  # its warnings, as the runner logs them
    ShellEngine.log_handler = handler
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            engine_name=ShellEngine.name,
            kernel_name=kernel,
            progress_bar=False,
        )
    except PapermillExecutionError as exc:
        traceback = "\n".join(runner._ANSI.sub("", line) for line in exc.traceback or [])
        print(traceback, file=sys.stderr)
        runner._terminate(f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})")
        return runner.EXIT_FAILED
    except Exception as exc:
        runner._terminate(f"{type(exc).__name__}: {exc}")
        return runner.EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
