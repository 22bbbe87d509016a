"""Cron times against Argo's (robfig/cron's) documented behaviour, daylight saving included."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from nbflow.errors import SpecError
from nbflow.schedule.cron import describe, next_time, upcoming

PARIS = ZoneInfo("Europe/Paris")
LA = ZoneInfo("America/Los_Angeles")


def wall(times: list[datetime], tz: ZoneInfo) -> list[str]:
    return [t.astimezone(tz).strftime("%m-%d %H:%M %Z") for t in times]


# Argo's docs/cron-workflows.md, "Daylight Saving", timezone America/Los_Angeles: the three
# tables, sequence 1-3 of each cron.
@pytest.mark.parametrize(("cron", "start", "expected"), [
    ("59 1 * * *", datetime(2020, 3, 7, 12), ["03-08 01:59 PST", "03-09 01:59 PDT",
                                              "03-10 01:59 PDT"]),
    ("0 2 * * *", datetime(2020, 3, 7, 12), ["03-09 02:00 PDT", "03-10 02:00 PDT",
                                             "03-11 02:00 PDT"]),
    ("1 2 * * *", datetime(2020, 3, 7, 12), ["03-09 02:01 PDT", "03-10 02:01 PDT",
                                             "03-11 02:01 PDT"]),
    ("59 1 * * *", datetime(2020, 10, 31, 12), ["11-01 01:59 PDT", "11-01 01:59 PST",
                                                "11-02 01:59 PST"]),
    ("0 2 * * *", datetime(2020, 10, 31, 12), ["11-01 02:00 PST", "11-02 02:00 PST",
                                               "11-03 02:00 PST"]),
    ("1 2 * * *", datetime(2020, 10, 31, 12), ["11-01 02:01 PST", "11-02 02:01 PST",
                                               "11-03 02:01 PST"]),
])
def test_argo_documented_dst_tables(cron: str, start: datetime, expected: list[str]) -> None:
    assert wall(upcoming([cron], "America/Los_Angeles", start.replace(tzinfo=LA), 3), LA) == (
        expected
    )


def test_paris_spring_forward_skips_the_missing_hour() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist that day and is not run at 03:00
    # (croniter alone would run it at 03:00; robfig/cron skips it).
    start = datetime(2026, 3, 28, 12, tzinfo=PARIS)
    assert wall(upcoming(["30 2 * * *"], "Europe/Paris", start, 2), PARIS) == [
        "03-30 02:30 CEST", "03-31 02:30 CEST"]
    assert wall(upcoming(["*/30 * * * *"], "Europe/Paris",
                         datetime(2026, 3, 29, 1, 10, tzinfo=PARIS), 3), PARIS) == [
        "03-29 01:30 CET", "03-29 03:00 CEST", "03-29 03:30 CEST"]


def test_paris_fall_back_runs_the_repeated_hour_twice() -> None:
    # 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice, and runs twice.
    start = datetime(2026, 10, 24, 12, tzinfo=PARIS)
    assert wall(upcoming(["30 2 * * *"], "Europe/Paris", start, 3), PARIS) == [
        "10-25 02:30 CEST", "10-25 02:30 CET", "10-26 02:30 CET"]
    assert wall(upcoming(["0 3 * * *"], "Europe/Paris", start, 2), PARIS) == [
        "10-25 03:00 CET", "10-26 03:00 CET"]
    start = datetime(2026, 10, 25, 1, 10, tzinfo=PARIS)
    times = upcoming(["*/30 * * * *"], "Europe/Paris", start, 6)
    assert wall(times, PARIS) == ["10-25 01:30 CEST", "10-25 02:00 CEST", "10-25 02:30 CEST",
                                  "10-25 02:00 CET", "10-25 02:30 CET", "10-25 03:00 CET"]
    assert all(b > a for a, b in zip(times, times[1:]))  # absolute time only moves forward


def test_schedules_are_ored_and_macros_and_every_work() -> None:
    after = datetime(2026, 6, 1, 0, 30, tzinfo=timezone.utc)
    assert next_time(["0 3 * * *", "0 1 * * *"], None, after) == after.replace(hour=1, minute=0)
    assert next_time(["@hourly"], None, after) == after.replace(hour=1, minute=0)
    anchor = datetime(2026, 6, 1, 0, 0, tzinfo=timezone.utc)
    assert next_time(["@every 1h30m"], None, after, anchor) == anchor.replace(hour=1, minute=30)
    assert upcoming(["0 0 * * *", "@daily"], None, after, 2)[1].day == 3  # no duplicates


@pytest.mark.parametrize(("schedules", "tz", "message"), [
    (["0 2 * *"], None, "expected 5 cron fields"),
    (["61 2 * * *"], None, "expected 5 cron fields"),
    (["@every 0s"], None, "@every needs a duration"),
    (["0 2 * * *"], "Mars/Olympus", "unknown time zone"),
    ([], None, "at least one cron expression"),
])
def test_bad_schedules_are_one_line_errors(schedules: list[str], tz: str | None,
                                           message: str) -> None:
    with pytest.raises(SpecError, match=message):
        next_time(schedules, tz, datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_describe_in_words() -> None:
    assert describe(["0 2 * * *"], "Europe/Paris") == "every day at 02:00, Europe/Paris"
    assert describe(["*/10 * * * 1-5", "@every 90m"], None) == (
        "every 10 minutes, Monday through Friday or every 90m, UTC")
