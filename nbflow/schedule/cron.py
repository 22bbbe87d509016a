"""Cron times as Argo's controller (robfig/cron) computes them: time zones, DST, ORed schedules.

robfig/cron walks absolute time and matches the *wall clock* of the schedule's time zone, so a
wall time that a spring-forward skips never fires (no substitute run at 03:00) and one that a
fall-back repeats fires twice (Argo's ``docs/cron-workflows.md``, "Daylight Saving"). croniter
parses the expressions and steps through naive wall times; this module maps each wall time to
the instants it denotes (none, one, or two), which is exactly that behaviour. Pure: no clock.
"""

from __future__ import annotations

import functools
import re
import threading
import zoneinfo
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone, tzinfo

from ..errors import SpecError
from ..model.values import parse_duration

__all__ = ["CronSchedule", "next_time", "upcoming", "describe", "zone"]

#: robfig/cron's predefined schedules (``cron.ParseStandard``).
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MARGIN = timedelta(hours=3)  # larger than any DST shift: how far wall and absolute time differ
_EVERY = re.compile(r"^@every\s+(\S+)$")


def zone(name: str | None) -> tzinfo:
    """The time zone ``name`` (IANA), or UTC when empty (nbflow's scheduler runs in UTC)."""
    if not name:
        return timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SpecError(f"--timezone {name!r}: unknown time zone") from None


class CronSchedule:
    """One schedule of a CronWorkflow: five cron fields, a macro, or ``@every DURATION``.

    Parameters
    ----------
    text : str
        The schedule as written in ``spec.schedules``.
    tz : tzinfo
        The CronWorkflow's ``timezone``.
    """

    def __init__(self, text: str, tz: tzinfo) -> None:
        from croniter import croniter

        self.text = " ".join(text.split())
        self.tz = tz
        self.every_s: float | None = None
        every = _EVERY.match(self.text)
        if every:
            try:
                self.every_s = parse_duration(every.group(1))
            except ValueError:
                self.every_s = None
            if not self.every_s or self.every_s < 1:
                raise SpecError(f"schedule {text!r}: @every needs a duration of 1s or more")
            return
        self.expr = MACROS.get(self.text, self.text)
        if len(self.expr.split()) != 5 or not croniter.is_valid(self.expr):
            raise SpecError(
                f"schedule {text!r}: expected 5 cron fields (minute hour day month weekday), "
                "a macro such as @daily, or @every DURATION"
            )
        self._iter = croniter(self.expr, datetime(2000, 1, 1))
        self._lock = threading.Lock()

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime:
        """The first instant strictly after ``after`` (aware) at which the schedule fires.

        ``anchor`` is where an ``@every`` schedule counts from (robfig: when it was added).
        """
        if self.every_s is not None:
            step = timedelta(seconds=self.every_s)
            start = anchor or after
            if start > after:
                return start
            n = int((after - start) / step) + 1
            return start + n * step
        return next(self._instants(after))

    def _instants(self, after: datetime) -> Iterator[datetime]:
        """Instants after ``after``, in order: croniter's naive wall times mapped to the zone."""
        # A fall-back within reach repeats wall times already passed: look back that much.
        lookback = max(timedelta(0), self._offset(after) - self._offset(after + _MARGIN))
        wall = after.astimezone(self.tz).replace(tzinfo=None)
        naive = wall - lookback
        pending: list[datetime] = []
        while True:
            with self._lock:  # one parsed croniter per schedule, shared by threads (a server)
                self._iter.set_current(naive, force=True)
                naive = self._iter.get_next(datetime)
            pending += [t for t in self._at_wall(naive) if t > after]
            pending.sort()
            # every later wall time maps to an instant after ``naive - largest offset``
            while pending and pending[0].replace(tzinfo=None) <= naive - self._widest(pending[0]):
                yield pending.pop(0)

    def _offset(self, t: datetime) -> timedelta:
        return t.astimezone(self.tz).utcoffset() or timedelta(0)

    def _widest(self, t: datetime) -> timedelta:
        """The largest UTC offset of the zone around ``t`` (within the DST margin)."""
        return max(self._offset(t - _MARGIN), self._offset(t), self._offset(t + _MARGIN))

    def _at_wall(self, naive: datetime) -> list[datetime]:
        """The instants whose wall time in the zone is ``naive``: none (skipped by a
        spring-forward), one, or two (repeated by a fall-back)."""
        out = []
        for fold in (0, 1):
            local = naive.replace(tzinfo=self.tz, fold=fold)
            instant = local.astimezone(timezone.utc)
            if instant.astimezone(self.tz).replace(tzinfo=None) == naive and instant not in out:
                out.append(instant)
        return out


def _schedules(schedules: Sequence[str], tz_name: str | None) -> tuple[CronSchedule, ...]:
    if not schedules:
        raise SpecError("a schedule needs at least one cron expression (--cron)")
    return _parsed(tuple(schedules), tz_name or "")


@functools.lru_cache(maxsize=4096)
def _parsed(schedules: tuple[str, ...], tz_name: str) -> tuple[CronSchedule, ...]:
    tz = zone(tz_name)
    return tuple(CronSchedule(s, tz) for s in schedules)


def next_time(
    schedules: Sequence[str],
    tz_name: str | None,
    after: datetime,
    anchor: datetime | None = None,
) -> datetime:
    """The next instant (UTC) after ``after`` at which any of ``schedules`` fires (ORed)."""
    return min(s.next_after(after, anchor) for s in _schedules(schedules, tz_name))


def upcoming(
    schedules: Sequence[str],
    tz_name: str | None,
    after: datetime,
    count: int = 5,
    anchor: datetime | None = None,
) -> list[datetime]:
    """The next ``count`` instants (UTC) at which the schedules fire, without duplicates."""
    parsed = _schedules(schedules, tz_name)
    out: list[datetime] = []
    t = after
    while len(out) < count:
        t = min(s.next_after(t, anchor) for s in parsed)
        out.append(t)
    return out


def describe(schedules: Sequence[str], tz_name: str | None) -> str:
    """The schedules in words, e.g. ``"at 02:00, Europe/Paris"`` (cron-descriptor)."""
    from cron_descriptor import ExpressionDescriptor, Options

    parsed = _schedules(schedules, tz_name)
    options = Options()
    options.use_24hour_time_format = True
    words = []
    for s in parsed:
        if s.every_s is not None:
            words.append(f"every {s.text.split()[1]}")
        else:
            text = ExpressionDescriptor(s.expr, options).get_description()
            text = text[:1].lower() + text[1:]
            if s.expr.split()[2:] == ["*", "*", "*"] and text.startswith("at "):
                text = "every day " + text
            words.append(text)
    return f"{' or '.join(words)}, {tz_name or 'UTC'}"
