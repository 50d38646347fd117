"""Cron schedules and maintenance windows (``api.schedules``), table by table: what
parses and what is refused (the message names the field and the fix), which minutes
match, the next start across days and DST changes, and when a window is open."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edgeplane.api.schedules import NEXT_OPEN_HORIZON, Schedule, Window

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = timedelta(days=7)


def at(text: str, zone: ZoneInfo | None = None) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=zone or UTC) if moment.tzinfo is None else moment


@pytest.mark.parametrize(
    ("text", "minutes", "hours", "weekdays"),
    [
        ("0 2 * * *", (0,), (2,), set(range(7))),
        ("*/15 * * * *", (0, 15, 30, 45), tuple(range(24)), set(range(7))),
        ("5,10-12 1-5/2 * * 1-5", (5, 10, 11, 12), (1, 3, 5), {1, 2, 3, 4, 5}),
        ("0 0 * * 7", (0,), (0,), {0}),
        ("0 0 * * 0,7", (0,), (0,), {0}),
        ("30 23 * * 5/1", (30,), (23,), {5, 6, 0}),
    ],
    ids=["daily", "every-15-minutes", "lists-ranges-steps", "7-is-sunday", "0-and-7", "step-from"],
)
def test_parse(
    text: str, minutes: tuple[int, ...], hours: tuple[int, ...], weekdays: set[int]
) -> None:
    schedule = Schedule.parse(text)
    assert (schedule.minutes, schedule.hours, set(schedule.weekdays)) == (minutes, hours, weekdays)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0 2 * *", "has 4 field(s): write 5"),
        ("0 2 * * * *", "has 6 field(s): write 5"),
        ("60 * * * *", "minute '60' is not a number from 0 to 59"),
        ("* 24 * * *", "hour '24' is not a number from 0 to 23"),
        ("* * 0 * *", "day of month '0' is not a number from 1 to 31"),
        ("* * * 13 *", "month '13' is not a number from 1 to 12"),
        ("* * * * 8", "day of week '8' is not a number from 0 to 7"),
        ("* * * JAN *", "month 'JAN' is not a number"),
        ("5-1 * * * *", "minute range '5-1' runs backwards: write 1-5"),
        ("*/0 * * * *", "minute step in '*/0' must be a whole number from 1"),
        ("*/x * * * *", "minute step in '*/x' must be a whole number from 1"),
        ("0 0 30 2 *", "never matches"),
        ("", "has 0 field(s)"),
    ],
    ids=[
        "four-fields",
        "six-fields",
        "minute-60",
        "hour-24",
        "day-0",
        "month-13",
        "weekday-8",
        "names-not-numbers",
        "backwards-range",
        "step-0",
        "step-not-a-number",
        "february-30th",
        "empty",
    ],
)
def test_parse_refuses(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        Schedule.parse(text)


@pytest.mark.parametrize(
    ("text", "moment", "expected"),
    [
        ("0 2 * * *", "2026-12-01T02:00", True),
        ("0 2 * * *", "2026-12-01T02:01", False),
        ("0 0 1 * 1", "2026-12-01T00:00", True),  # the 1st (a Tuesday): OR-ed
        ("0 0 1 * 1", "2026-12-07T00:00", True),  # a Monday: OR-ed
        ("0 0 1 * 1", "2026-12-08T00:00", False),
        ("0 0 * * 1", "2026-12-01T00:00", False),  # day of month '*': weekday alone
        ("0 0 1-7 * */2", "2026-12-01T00:00", True),  # '*/2' is '*'-led: AND, Tuesday=2
        ("0 0 1-7 * */2", "2026-12-02T00:00", False),
        ("0 0 * 6 *", "2026-12-01T00:00", False),
    ],
    ids=[
        "minute-matches",
        "minute-does-not",
        "dom-or-dow-by-day",
        "dom-or-dow-by-weekday",
        "neither",
        "weekday-only",
        "starred-step-ands",
        "starred-step-ands-not",
        "wrong-month",
    ],
)
def test_matches(text: str, moment: str, expected: bool) -> None:
    assert Schedule.parse(text).matches(at(moment)) is expected


@pytest.mark.parametrize(
    ("text", "after", "zone", "expected_utc"),
    [
        ("0 2 * * *", "2026-12-01T01:00", None, "2026-12-01T02:00"),
        ("0 2 * * *", "2026-12-01T02:00", None, "2026-12-02T02:00"),
        ("*/15 * * * *", "2026-12-01T10:07:30", None, "2026-12-01T10:15"),
        ("0 3 * * 0", "2026-12-01T00:00", None, "2026-12-06T03:00"),
        ("0 2 * * *", "2026-12-01T01:00", BERLIN, "2026-12-01T01:00"),
        ("0 2 * * *", "2026-07-01T01:00", BERLIN, "2026-07-01T00:00"),
        ("30 2 * * *", "2026-03-29T00:00", BERLIN, "2026-03-29T01:30"),
        ("30 2 * * *", "2026-10-25T00:00", BERLIN, "2026-10-25T00:30"),
        ("30 2 * * *", "2026-10-25T02:40", BERLIN, "2026-10-26T01:30"),
        ("0 12 29 2 *", "2026-12-01T00:00", None, None),
    ],
    ids=[
        "later-today",
        "strictly-after",
        "next-quarter",
        "next-sunday",
        "berlin-winter",
        "berlin-summer",
        "spring-gap-opens-after-it",
        "autumn-first-of-the-fold",
        "autumn-once-not-twice",
        "beyond-the-horizon",
    ],
)
def test_next_at(text: str, after: str, zone: ZoneInfo | None, expected_utc: str | None) -> None:
    found = Schedule.parse(text).next_at(at(after, zone), WEEK)
    if expected_utc is None:
        assert found is None
    else:
        assert found is not None and found.timestamp() == at(expected_utc).timestamp()


@pytest.mark.parametrize(
    ("window", "now", "is_open", "opens_utc"),
    [
        (("0 2 * * *", 120, "UTC"), "2026-12-01T02:00", True, "2026-12-01T02:00"),
        (("0 2 * * *", 120, "UTC"), "2026-12-01T03:59", True, "2026-12-01T03:59"),
        (("0 2 * * *", 120, "UTC"), "2026-12-01T04:00", False, "2026-12-02T02:00"),
        (("0 2 * * *", 120, "UTC"), "2026-12-01T01:59", False, "2026-12-01T02:00"),
        (("0 22 * * *", 240, "UTC"), "2026-12-02T01:00", True, "2026-12-02T01:00"),
        (("0 2 * * *", 120, "Europe/Berlin"), "2026-12-01T01:30", True, "2026-12-01T01:30"),
        (("0 2 * * *", 120, "Europe/Berlin"), "2026-12-01T03:00", False, "2026-12-02T01:00"),
        (("0 0 * * 6", 10080, "UTC"), "2026-12-04T23:00", True, "2026-12-04T23:00"),
        (("0 1 * * 0", 60, "Europe/Berlin"), "2026-03-29T00:30", True, "2026-03-29T00:30"),
        (("0 1 * * 0", 60, "Europe/Berlin"), "2026-03-29T01:00", False, "2026-04-04T23:00"),
    ],
    ids=[
        "at-the-start",
        "last-minute",
        "end-excluded",
        "before-it",
        "across-midnight",
        "berlin-open",
        "berlin-closed",
        "a-week-long",
        "spring-night-open",
        "spring-night-real-hour",
    ],
)
def test_window(window: tuple[str, int, str], now: str, is_open: bool, opens_utc: str) -> None:
    parsed = Window.parse(*window)
    now_ts = at(now).timestamp()
    assert parsed.is_open(now_ts) is is_open
    assert parsed.next_open(now_ts) == at(opens_utc).timestamp()


def test_next_open_none_beyond_the_horizon() -> None:
    window = Window.parse("0 0 1 1 *", 60)
    assert window.next_open(at("2026-12-01T00:00").timestamp()) is None
    assert NEXT_OPEN_HORIZON > WEEK  # a weekly window is always found


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("0 2 * * *", 0, "UTC"), "durationMinutes 0 is out of range: write 1 to 10080"),
        (("0 2 * * *", 10081, "UTC"), "durationMinutes 10081 is out of range"),
        (("0 2 * * *", 60, "Mars/Olympus"), "timeZone 'Mars/Olympus' is not an IANA time zone"),
        (
            ("0 2 * * *", 60, "../etc/passwd"),
            "is not an IANA time zone: write e.g. 'Europe/Berlin'",
        ),
        (("0 2 *", 60, "UTC"), "has 3 field(s)"),
    ],
    ids=["zero-minutes", "over-a-week", "unknown-zone", "path-as-zone", "bad-schedule"],
)
def test_window_refuses(args: tuple[str, int, str], says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        Window.parse(*args)
