"""How a step ends: the typed value both engines report, and the exit codes that carry it.

A step runs in another process (a pod, a runner process, a forked zygote), so its end crosses a
process boundary as an exit code and a one-line message (Kubernetes' termination log). This
module is the one place that says what those codes mean, in both directions: the runner turns
its :class:`StepEnd` into an exit code, the engine turns the exit code back into a
:class:`StepEnd`, and node phases and retry policies read the typed value, never the message.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from .vocab import Phase, StrEnum

__all__ = ["End", "StepEnd", "EXIT_CODES", "signal_description"]


class End(StrEnum):
    """Why a step ended."""

    SUCCEEDED = "Succeeded"  # every cell ran
    FAILED = "Failed"  # a cell raised (or the command exited non-zero): Argo's Failed
    USAGE = "Usage"  # the runner was started wrongly (no step notebook): Failed
    KERNEL_DIED = "KernelDied"  # the kernel process died (crash, out of memory): Error
    KILLED = "Killed"  # the step's own process was killed by a signal: Error
    STOPPED = "Stopped"  # cancelled by a stop or terminate: Failed
    DEADLINE = "Deadline"  # killed when its deadline passed: Failed


#: The runner's exit code for each end it reports itself (``python -m nbflow.runner``).
EXIT_CODES = {End.SUCCEEDED: 0, End.FAILED: 1, End.USAGE: 2, End.KERNEL_DIED: 3}
_BY_CODE = {code: end for end, code in EXIT_CODES.items()}
_ERRORS = frozenset({End.KERNEL_DIED, End.KILLED})


@dataclass(frozen=True)
class StepEnd:
    """How one step ended.

    Parameters
    ----------
    end : End
        Why it ended.
    exit_code : int, optional
        The exit code of the step's process (``None`` when it was killed on request).
    message : str, optional
        One line for the node's ``message`` (e.g. ``ValueError: bad (cell 3)``).
    """

    end: End
    exit_code: int | None = None
    message: str | None = None

    @property
    def phase(self) -> Phase:
        """The node phase, as Argo gives it: Error for a dead kernel or process, else Failed."""
        if self.end is End.SUCCEEDED:
            return Phase.SUCCEEDED
        return Phase.ERROR if self.end in _ERRORS else Phase.FAILED

    @property
    def transient(self) -> bool:
        """Whether ``OnTransientError`` retries it: a kernel that died is the local equivalent
        of an evicted or OOM-killed pod."""
        return self.end is End.KERNEL_DIED

    @property
    def runner_exit_code(self) -> int:
        """The code ``nbflow.runner`` exits with to report this end."""
        return EXIT_CODES.get(self.end, EXIT_CODES[End.FAILED])

    @classmethod
    def of_runner(cls, code: int, message: str | None = None) -> StepEnd:
        """The end ``nbflow.runner`` reported by exiting with ``code``."""
        if code < 0:
            return cls(End.KILLED, code, message or f"killed by {signal_description(-code)}")
        end = _BY_CODE.get(code, End.FAILED)
        if end is End.FAILED and not message:
            message = f"Error (exit code {code})"
        return cls(end, code, message if end is not End.SUCCEEDED else None)

    @classmethod
    def of_command(cls, code: int, message: str | None = None) -> StepEnd:
        """The end of any other command that exited with ``code`` (a hand-written template)."""
        if code < 0:
            return cls(End.KILLED, code, message or f"killed by {signal_description(-code)}")
        if code == 0:
            return cls(End.SUCCEEDED, 0)
        return cls(End.FAILED, code, message or f"Error (exit code {code})")

    @classmethod
    def of_node(cls, node: dict[str, Any]) -> StepEnd | None:
        """The end an nbflow step's node records (its ``outputs.exitCode``), if it has one."""
        code = (node.get("outputs") or {}).get("exitCode")
        try:
            return cls.of_runner(int(code), node.get("message")) if code is not None else None
        except ValueError:
            return None


def signal_description(number: int, hint: bool = False) -> str:
    """``SIGKILL`` for 9, ``signal 77`` for an unknown one; ``hint`` adds ``: out of memory?``
    to SIGKILL (what the kernel's out-of-memory killer sends)."""
    name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
    return f"{name}: out of memory?" if hint and number == signal.SIGKILL else name
