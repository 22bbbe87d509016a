"""Each fired run in a process of its own: ``python -m nbflow.schedule.child HOME RUN``.

A run is a whole local engine (worker threads, a fork server, kernels). In its own process,
a run that crashes, leaks memory or is killed by the OOM killer never takes the scheduler
down with it, many runs go on at once, and the scheduler stays small. The child writes its
pid under ``<home>/schedules/pids/`` so that a restarted scheduler still sees it running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from .clock import RunState
from .store import schedules_dir

__all__ = ["ProcessLauncher", "child_command", "pid_alive", "spawn", "spawn_detached"]


def child_command(home: Path, run: str) -> list[str]:
    """The argv (never a shell line) of the process that starts or goes on with ``run``."""
    return [sys.executable, "-m", "nbflow.schedule.child", str(home), run]


def pid_alive(path: Path) -> bool:
    """Whether the process whose pid is in ``path`` is alive."""
    try:
        pid = int(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (a child of ours that ended) is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def spawn(home: Path, run: str) -> subprocess.Popen[bytes]:
    """Start the process of fired run ``run``, in a session of its own (Ctrl-C or SIGTERM to
    the starter leaves it alone), its output in ``<home>/schedules/logs/RUN.log``."""
    logs = schedules_dir(home) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NBFLOW_HOME": str(home)}
    with open(logs / f"{run}.log", "ab") as out:
        return subprocess.Popen(child_command(home, run), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def spawn_detached(home: Path, run: str) -> None:
    """:func:`spawn`, for a process that does not watch its runs (``run-now`` from the CLI or
    a server): a daemon thread reaps the child, so that no zombie is left behind."""
    import threading

    child = spawn(home, run)
    threading.Thread(target=child.wait, name=f"nbflow-reap-{run}", daemon=True).start()


class ProcessLauncher:
    """Starts every run with :func:`child_command`, detached in its own session.

    Parameters
    ----------
    home : Path
        The nbflow home (runs under ``<home>/runs``, logs of the child processes under
        ``<home>/schedules/logs``).
    """

    def __init__(self, home: Path) -> None:
        from ..engine.store import RunStore

        self.home = Path(home)
        self.runs = RunStore(self.home / "runs")
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: dict[str, str] = {}  # runs killed before they were created: when
        # run -> (workflow.json's (mtime_ns, size), (phase, finishedAt)) when last read
        self._recorded: dict[str, tuple[tuple[int, int], tuple[str, str]]] = {}
        self.pids = schedules_dir(self.home) / "pids"
        self.logs = schedules_dir(self.home) / "logs"

    def start(self, run: str) -> None:
        """Start the process of ``run``; its output goes to ``<home>/schedules/logs/RUN.log``."""
        self.children[run] = spawn(self.home, run)

    def alive(self, run: str) -> bool:
        """Whether a process is starting or driving ``run``."""
        child = self.children.get(run)
        if child is not None and child.poll() is None:
            return True
        if child is not None:
            del self.children[run]  # reaped
        return pid_alive(self.pids / run) or self.runs.is_locked(run)

    def state(self, run: str) -> RunState:
        """Whether a process drives ``run``, and its recorded phase."""
        alive = self.alive(run)
        if run in self.killed and not alive:
            return RunState(False, "Failed", self.killed[run])
        recorded = self._phase(run)
        if recorded is None:
            return RunState(alive)
        state = RunState(alive, *recorded)
        if state.done:
            self._recorded.pop(run, None)  # not asked again
        return state

    def _phase(self, run: str) -> tuple[str, str] | None:
        """The phase and ``finishedAt`` the run's record holds; it is parsed again only when
        its file changed (the scheduler asks every second while the run goes on)."""
        try:
            st = (self.runs.run_dir(run) / "workflow.json").stat()
        except OSError:
            return None  # not created yet
        stamp = (st.st_mtime_ns, st.st_size)
        seen = self._recorded.get(run)
        if seen is not None and seen[0] == stamp:
            return seen[1]
        try:
            wf, _ = self.runs.load(run)
        except Exception:  # being created
            return None
        status = wf.get("status") or {}
        recorded = (status.get("phase", ""), status.get("finishedAt", ""))
        self._recorded[run] = (stamp, recorded)
        return recorded

    def terminate(self, run: str) -> None:
        """Terminate ``run`` like ``argo terminate``; a run not created yet is killed."""
        if (self.runs.run_dir(run) / "run.json").is_file():
            self.runs.request(run, shutdown="Terminate")  # read by the engine at its next poll
            return
        child = self.children.get(run)
        if child is not None and child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)  # it is still compiling: nothing to clean up
            child.wait()
            from datetime import datetime, timezone

            from .policy import rfc3339

            self.killed[run] = rfc3339(datetime.now(timezone.utc))

    def wait_all(self, timeout_s: float | None = None) -> None:
        """Wait for the processes this launcher started to end (a clean exit, tests)."""
        for run, child in list(self.children.items()):
            child.wait(timeout_s)
            del self.children[run]

    def delete(self, run: str) -> None:
        """Delete finished run ``run`` as ``nbflow delete`` does: its record, logs and the
        artifacts that no other run reads and no cache entry points at."""
        from ..cleanup import delete_runs
        from ..config import load_config
        from ..errors import RunNotFound

        with contextlib.suppress(RunNotFound):  # gone already
            delete_runs([run], config=load_config(home=str(self.home)))
        (self.logs / f"{run}.log").unlink(missing_ok=True)
