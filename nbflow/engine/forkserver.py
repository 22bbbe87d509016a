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
from typing import Any

from .warmup import BASE_PRELOAD, PAPERMILL_BACKENDS, learn_imports, warm, without
from .zygote import make_pristine_shell, zygote

__all__ = ["main"]


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

    with without(PAPERMILL_BACKENDS):
        loaded, skipped = preload(BASE_PRELOAD, [])
    more, not_loaded = preload(args.preload, [*args.local, cwd])
    loaded += more
    skipped.update(not_loaded)
    with contextlib.suppress(Exception):  # a warm-up only: steps do the same and report failures
        warm()
    learned = learn_imports()
    for name in learned:
        with contextlib.suppress(BaseException):
            importlib.import_module(name)
    # A kernel's sys.path: '' (the working directory) just before site-packages.
    at = next((i for i, p in enumerate(sys.path) if p.endswith("-packages")), len(sys.path))
    sys.path.insert(at, "")
    make_pristine_shell()
    from .. import runner

    runner.parser()  # built once here rather than in every step (argparse is slow to build)
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
