"""Wait for a run in a busy cell while the kernel still answers the widgets' comm messages."""

from __future__ import annotations

import inspect
import threading
from typing import Any

__all__ = ["CommServer", "wait_serving_comms"]

#: Messages answered during the wait: what a widget's clicks and buttons send.
COMM_MESSAGES = frozenset({"comm_open", "comm_msg", "comm_close"})


class CommServer:
    """The main shell's incoming messages, read while the cell blocks the kernel's event loop.

    A cell that waits keeps ipykernel's event loop from reading its shell socket, so the
    clicks on a widget (comm messages) would wait until the cell ends. :meth:`serve` reads
    that socket directly: comm messages are handed to the kernel's own handlers at once,
    anything else (the next cells' ``execute_request``, ...) is kept, in order, and given
    back to the kernel by :meth:`close` to be handled as usual once the cell is over.

    Parameters
    ----------
    kernel : ipykernel.kernelbase.Kernel
        The running kernel (``get_ipython().kernel``).
    """

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.socket = _main_shell_socket(kernel)
        self.kept: list[Any] = []
        self.served = 0

    @property
    def usable(self) -> bool:
        """Whether this kernel's shell socket was found (ipykernel 7, in its main thread)."""
        return self.socket is not None and threading.current_thread() is threading.main_thread()

    def serve(self) -> int:
        """Handle the comm messages waiting now; keep the others. Return how many were read."""
        import zmq

        if not self.usable:
            return 0
        count = 0
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return count
            count += 1
            if not self._handle(frames):
                self.kept.append(frames)

    def _handle(self, frames: list[Any]) -> bool:
        """Hand a comm message to its handler; ``False`` for other messages (kept)."""
        session = self.kernel.session
        try:
            idents, rest = session.feed_identities(frames, copy=False)
            # A peek at the header does not record the signature: a kept message replays.
            header = session.deserialize(rest, content=False, copy=False)["header"]
        except Exception:
            return False
        msg_type = header.get("msg_type")
        handler = self.kernel.shell_handlers.get(msg_type)
        if msg_type not in COMM_MESSAGES or handler is None:
            return False
        try:
            msg = session.deserialize(rest, content=True, copy=False)
        except Exception:
            return True  # a bad signature: dropped, as the kernel itself would
        # Frontends send a widget's next message once the kernel said "idle" for the last
        # one (ipywidgets' throttling); then the kernel is busy with the cell again.
        cell = self.kernel.get_parent("shell")
        self._status("busy", msg)
        try:
            result = handler(self.socket, idents, msg)
            if inspect.isawaitable(result):  # comm handlers are plain functions; be safe
                _close_awaitable(result)
        except Exception:
            self.kernel.log.error("nbflow: error in a comm message handler", exc_info=True)
        finally:
            self._status("idle", msg)
            if cell:
                self._status("busy", cell)
        self.served += 1
        return True

    def _status(self, state: str, parent: dict[str, Any]) -> None:
        """Publish the kernel's execution state for the request ``parent`` on IOPub."""
        kernel = self.kernel
        kernel.session.send(kernel.iopub_socket, "status", {"execution_state": state},
                            parent=parent, ident=f"kernel.{kernel.ident}.status".encode())

    def close(self) -> None:
        """Give the kept messages back to the kernel, in the order they came."""
        kept, self.kept = self.kept, []
        for frames in kept:
            self.kernel.io_loop.add_callback(self.kernel.shell_main, None, frames)


def _close_awaitable(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


def _main_shell_socket(kernel: Any) -> Any:
    """The socket the main shell reads its messages from, or ``None`` when unknown.

    ipykernel 7 with subshells: the inproc pair from its shell-channel thread; without them:
    the shell socket itself.
    """
    if kernel is None or not hasattr(kernel, "shell_main") or not hasattr(kernel, "session"):
        return None
    channel = getattr(kernel, "shell_channel_thread", None)
    if channel is not None:
        manager = getattr(channel, "manager", None)
        getter = getattr(manager, "get_shell_channel_to_subshell_pair", None)
        return getter(None).to_socket if getter is not None else None
    stream = getattr(kernel, "shell_stream", None)
    return getattr(stream, "socket", None)


def wait_serving_comms(run: Any, kernel: Any, poll_s: float = 0.05) -> None:
    """Wait until ``run`` ends, answering the widgets' comm messages meanwhile.

    Without a kernel whose shell socket can be read here, this is ``run.wait()``.
    """
    server = CommServer(kernel)
    if not server.usable:
        run.wait()
        return
    try:
        while run.live:
            run.wait(timeout=poll_s)
            server.serve()
        server.serve()  # the clicks of the last moments, before the cell ends
    finally:
        server.close()
