"""Schedules: 5-field cron text and the maintenance windows built on it.

``Schedule.parse("0 2 * * 1-5")`` reads minute, hour, day of month, month and day of
week (``*``, lists, ranges, steps; day of week 0-7 with 0 and 7 Sunday; day of month
and day of week OR-ed, as cron does, when both are restricted) and refuses bad text
with a ValueError naming the field and the fix. ``Window`` is a schedule with a
duration and an IANA time zone: when it is open and when it next opens.

Pure and bounded: the next start is found day by day and then by bisecting the sorted
minutes of the day (never minute by minute), and a day with a DST change is walked
with real UTC offsets, so windows open at the local wall time and last the real
duration. Used by API validation (``api.sites``) and by ``rollout.windows``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
NEXT_OPEN_HORIZON = timedelta(days=8)
"""How far ahead ``Window.next_open`` looks: past a week, so a weekly window is found."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed cron schedule: the allowed values of each field."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 Sunday .. 6 Saturday (7 folded into 0)."""
    any_day: bool
    """Day of month is ``*``: only the day of week restricts the day."""
    any_weekday: bool
    day_minutes: tuple[int, ...]
    """The starts of a matching day, in minutes after midnight, sorted."""

    @classmethod
    def parse(cls, text: str) -> Schedule:
        parts = text.split()
        if len(parts) != len(_FIELDS):
            raise ValueError(
                f"schedule {text!r} has {len(parts)} field(s): write 5, minute hour "
                "day-of-month month day-of-week, e.g. '0 2 * * *' for 02:00 every day"
            )
        sets = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
        schedule = cls(
            text=text,
            minutes=tuple(sorted(sets[0])),
            hours=tuple(sorted(sets[1])),
            days=frozenset(sets[2]),
            months=frozenset(sets[3]),
            weekdays=frozenset(day % 7 for day in sets[4]),
            any_day=parts[2].startswith("*"),
            any_weekday=parts[4].startswith("*"),
            day_minutes=tuple(h * 60 + m for h in sorted(sets[1]) for m in sorted(sets[0])),
        )
        schedule._check_some_day_exists()
        return schedule

    def _check_some_day_exists(self) -> None:
        if not self.any_weekday and not self.any_day:
            return  # OR-ed with the day of week: some day always matches
        if self.any_day or any(
            day <= _DAYS_IN_MONTH[m - 1] for m in self.months for day in self.days
        ):
            return
        raise ValueError(
            f"schedule {self.text!r} never matches: no chosen month has the chosen day of "
            "month; pick a day that exists (e.g. 28) or another month"
        )

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def matches(self, moment: datetime) -> bool:
        """Whether the minute of ``moment`` (its own wall clock) is a start."""
        return (
            self.matches_day(moment.date())
            and moment.hour in self.hours
            and moment.minute in self.minutes
        )

    def next_at(self, after: datetime, horizon: timedelta) -> datetime | None:
        """The first start strictly after ``after`` (aware; its zone is the schedule's
        wall clock) and no later than ``after + horizon``; None when there is none."""
        zone = after.tzinfo or UTC
        after_ts, limit_ts = after.timestamp(), (after + horizon).timestamp()
        local = after.astimezone(zone)
        # a day earlier: across a DST fold, a wall time of yesterday can still be later
        day = local.date() - timedelta(days=1)
        while datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() <= limit_ts:
            if self.matches_day(day) and (found := self._first_on(day, zone, after_ts)):
                return found if found.timestamp() <= limit_ts else None
            day += timedelta(days=1)
        return None

    def _first_on(self, day: date, zone: tzinfo, after_ts: float) -> datetime | None:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        last = midnight.replace(hour=23, minute=59)
        if midnight.utcoffset() == last.utcoffset():
            # no DST change this day: wall minutes map to instants in order
            base = midnight.timestamp()
            index = bisect.bisect_right(self.day_minutes, (after_ts - base) // 60)
            if index == len(self.day_minutes):
                return None
            return _at(day, self.day_minutes[index], zone)
        starts = (_at(day, minute, zone) for minute in self.day_minutes)
        later = [start for start in starts if start.timestamp() > after_ts]
        return min(later, key=datetime.timestamp, default=None)


def _at(day: date, minute: int, zone: tzinfo) -> datetime:
    hour, minute = divmod(minute, 60)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values |= _part(part, name, low, high)
    return frozenset(values)


def _part(part: str, name: str, low: int, high: int) -> set[int]:
    span, _, step_text = part.partition("/")
    step = _step(step_text, name, part) if step_text else 1
    if span == "*":
        first, last = low, high
    elif "-" in span:
        first_text, _, last_text = span.partition("-")
        first, last = _number(first_text, name, low, high), _number(last_text, name, low, high)
        if first > last:
            raise ValueError(f"{name} range {span!r} runs backwards: write {last}-{first}")
    else:
        first = _number(span, name, low, high)
        last = high if step_text else first
    return set(range(first, last + 1, step))


def _step(text: str, name: str, part: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} step in {part!r} must be a whole number from 1: e.g. */15")
    return int(text)


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(
            f"{name} {text!r} is not a number from {low} to {high}: use numbers, '*', "
            "lists (1,3), ranges (1-5) and steps (*/15)"
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class Window:
    """A maintenance window: it opens at each start of ``schedule`` (wall clock of
    ``time_zone``) and stays open ``duration_minutes`` of real time."""

    schedule: Schedule
    duration_minutes: int
    time_zone: str = "UTC"

    @classmethod
    def parse(cls, schedule: str, duration_minutes: int, time_zone: str = "UTC") -> Window:
        if not 1 <= duration_minutes <= MAX_DURATION_MINUTES:
            raise ValueError(
                f"durationMinutes {duration_minutes} is out of range: "
                f"write 1 to {MAX_DURATION_MINUTES} (a week)"
            )
        zone_of(time_zone)
        return cls(Schedule.parse(schedule), duration_minutes, time_zone)

    def _last_start(self, now_ts: float) -> float | None:
        zone = zone_of(self.time_zone)
        span = timedelta(minutes=self.duration_minutes)
        since = datetime.fromtimestamp(now_ts, zone) - span
        start = self.schedule.next_at(since, span)
        return None if start is None else start.timestamp()

    def is_open(self, now_ts: float) -> bool:
        """Whether some start lies in the last ``duration_minutes`` (start included,
        end excluded)."""
        start = self._last_start(now_ts)
        return start is not None and start <= now_ts

    def next_open(self, now_ts: float) -> float | None:
        """``now_ts`` when open, else the next start within ``NEXT_OPEN_HORIZON``
        (None: none that soon)."""
        if self.is_open(now_ts):
            return now_ts
        moment = datetime.fromtimestamp(now_ts, zone_of(self.time_zone))
        start = self.schedule.next_at(moment, NEXT_OPEN_HORIZON)
        return None if start is None else start.timestamp()


MAX_DURATION_MINUTES = 10080


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError with an example when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(
            f"timeZone {name!r} is not an IANA time zone: write e.g. 'Europe/Berlin' or 'UTC'"
        ) from e
