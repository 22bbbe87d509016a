"""The fast step executor: a pre-warmed fork server runs each step in a fresh forked IPython shell.

The engine starts one server process per run (``python -m nbflow.engine.forkserver``, see
:mod:`.forkserver` and :mod:`.zygote`). It imports
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

import functools
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
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

    def alive(self) -> bool:
        """Whether the server process is running."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    def _spawn(self) -> None:
        argv = [sys.executable, "-m", "nbflow.engine.forkserver", "--pool", str(self.pool_size)]
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
