"""What the scheduler is given: a clock (tests move a fake one) and a launcher of runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

__all__ = ["Clock", "SystemClock", "RunState", "Launcher"]


class Clock(Protocol):
    """Where the scheduler's time comes from (tests move a fake one)."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """Wait until ``event`` is set or ``timeout_s`` passed; return whether it is set."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(timezone.utc)

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """``event.wait(timeout_s)``."""
        return event.wait(timeout_s)


@dataclass
class RunState:
    """What the scheduler needs to know of a child run."""

    alive: bool  # a process is starting or driving it
    phase: str = ""  # its workflow phase once recorded
    finished_at: str = ""

    @property
    def done(self) -> bool:
        """Whether the run ended."""
        return self.phase in ("Succeeded", "Failed", "Error") and bool(self.finished_at)


class Launcher(Protocol):
    """Starts, watches, terminates and deletes the runs the scheduler fires."""

    def start(self, run: str) -> None:
        """Start the fired run ``run`` (or go on with it when it was started and crashed)."""

    def state(self, run: str) -> RunState:
        """How run ``run`` is doing."""

    def terminate(self, run: str) -> None:
        """Terminate run ``run`` (``concurrencyPolicy: Replace``)."""

    def delete(self, run: str) -> None:
        """Delete the record of finished run ``run`` (history limits)."""
