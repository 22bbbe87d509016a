"""A zygote of the fork server: a forked child that waits for one step and runs it.

The step is ``nbflow.runner``'s work: papermill's ``execute_notebook`` with an engine that runs
the cells in this process's fresh IPython shell (:mod:`.shell`), in the step's working
directory, environment and log, as a kernel started for it would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any

__all__ = ["zygote", "make_pristine_shell", "run_step", "KERNEL_ENV"]

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


def make_pristine_shell() -> None:
    """Make, once, the shell each step starts from: it never runs anything in the server.

    Each forked step gets its own copy of it, as fresh as one made in the step (and a history
    database of its own), without paying ~15 ms of CPU per step to build it.
    """
    import atexit

    global _PRISTINE
    from .shell import new_shell

    _PRISTINE = new_shell()
    atexit.unregister(_PRISTINE.atexit_operations)  # nothing to clean up in the server


def zygote(job_fd: int, status_fd: int, inherited: list[int]) -> None:
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
        from .capture import FdCapture
        from .shell import ShellEngine, new_shell

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

    from .shell import no_input

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
    return run_step(job["args"], shell)


def run_step(argv: list[str], shell: Any) -> int:
    """Run the step as ``nbflow.runner`` does, with papermill's kernel swapped for this
    process's ``shell``; return the runner's exit code."""
    import logging

    from papermill.engines import papermill_engines

    from .. import runner
    from .shell import ShellEngine

    ShellEngine.shell = shell
    papermill_engines.register(ShellEngine.name, ShellEngine)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("papermill").addHandler(handler)  # its warnings, as the runner logs them
    ShellEngine.log_handler = handler
    return runner.report(runner.run_step(argv, engine=ShellEngine.name))
