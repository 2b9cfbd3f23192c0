"""Business-time arithmetic: pure functions, no database.

Working hours are wall-clock ranges in the calendar's own time zone ("09:00-17:00" means what
the clock on the office wall says, summer or winter). Business time is the real time that
elapses inside those ranges, so a 00:00-24:00 day lasts 23 hours on the spring-forward Sunday
and 25 on the fall-back one.

Turning a wall time into an instant has two awkward cases, both settled so that the mapping
never goes backwards (ranges that do not overlap on the wall never overlap in real time):
- a wall time that occurs twice (clocks go back) means its first occurrence (``fold=0``);
- a wall time that does not exist (clocks go forward) means the instant of the jump.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reviewapp.core.untrusted import shown

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
# A calendar with any working time reaches it within a week plus its holidays; this bound on
# days without any only stops a loop over a calendar that the validation should have refused.
_MAX_DAYS = 3660

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class WorkingCalendar:
    """A validated calendar: ``week[0]`` holds Monday's ranges as (start, end) minutes of day."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[date] = frozenset()

    @classmethod
    def from_config(
        cls, *, time_zone: str, working_hours: dict, holidays: list[str] | tuple[str, ...] = ()
    ) -> "WorkingCalendar":
        errors = calendar_errors(
            time_zone=time_zone, working_hours=working_hours, holidays=list(holidays)
        )
        if errors:
            raise ValueError(f"invalid calendar: {errors}")
        week = tuple(
            tuple(sorted((_minute(a), _minute(b)) for a, b in working_hours.get(day, [])))
            for day in WEEKDAYS
        )
        return cls(
            zone=ZoneInfo(time_zone),
            week=week,
            holidays=frozenset(date.fromisoformat(day) for day in holidays),
        )


def _minute(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def calendar_errors(
    *, time_zone: object, working_hours: object, holidays: object
) -> dict[str, list[str]]:
    """Everything wrong with a calendar's configuration, as field errors (empty when valid)."""
    errors = {"time_zone": time_zone_errors(time_zone)}
    hours = working_hours_errors(working_hours)
    if isinstance(hours, dict):
        errors |= {f"working_hours.{day}": messages for day, messages in hours.items()}
    else:
        errors["working_hours"] = hours
    errors["holidays"] = holidays_errors(holidays)
    return {field: messages for field, messages in errors.items() if messages}


def time_zone_errors(time_zone: object) -> list[str]:
    if not isinstance(time_zone, str) or not time_zone:
        return ["Give an IANA time zone such as Europe/Berlin."]
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return [f"Unknown time zone {time_zone!r}; use an IANA name."]
    return []


def working_hours_errors(working_hours: object) -> list[str] | dict[str, list[str]]:
    """What is wrong with a week of working hours: messages per weekday, or about the week."""
    if not isinstance(working_hours, dict):
        return ['Give the working hours per weekday, e.g. {"mon": [["09:00", "17:00"]]}.']
    errors: dict[str, list[str]] = {}
    total = 0
    for day, ranges in working_hours.items():
        if day not in WEEKDAYS:
            errors[day] = [f"Unknown weekday; use {', '.join(WEEKDAYS)}."]
            continue
        day_errors, minutes = _day_errors(ranges)
        if day_errors:
            errors[day] = day_errors
        total += minutes
    if errors:
        return errors
    return [] if total else ["A calendar needs working hours on at least one day."]


def holidays_errors(holidays: object) -> list[str]:
    if not isinstance(holidays, list):
        return ["Give the holidays as a list of dates (YYYY-MM-DD)."]
    bad = []
    for value in holidays:
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            bad.append(str(value))
    # Quote a few, each cut short: the answer never carries a long refused value back.
    return [f"Not a date (YYYY-MM-DD): {', '.join(shown(b) for b in bad[:5])}."] if bad else []


def _day_errors(ranges: object) -> tuple[list[str], int]:
    """Field errors for one weekday's ranges, and how many working minutes they hold."""
    if not isinstance(ranges, list):
        return ['Give a list of ranges, e.g. [["09:00", "12:00"], ["13:00", "17:00"]].'], 0
    errors: list[str] = []
    parsed: list[tuple[int, int]] = []
    for value in ranges:
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not all(isinstance(part, str) and _HHMM.match(part) for part in value)
        ):
            errors.append(f"“{_as_written(value)}” is not a range of two times HH:MM.")
            continue
        start, end = _minute(value[0]), _minute(value[1])
        if start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY:
            errors.append(f"{value[0]}-{value[1]}: times run from 00:00 to 24:00.")
        elif end <= start:
            errors.append(
                f"{value[0]}-{value[1]} ends before it starts; split a night shift across two days."
            )
        else:
            parsed.append((start, end))
    parsed.sort()
    for (start, end), (next_start, next_end) in pairwise(parsed):
        if next_start < end:
            errors.append(
                f"{_hhmm(start)}-{_hhmm(end)} overlaps {_hhmm(next_start)}-{_hhmm(next_end)}."
            )
    return errors, sum(end - start for start, end in parsed)


def _as_written(value: object) -> str:
    """A bad range as the manager wrote it (``9-17``), never as a Python list."""
    if isinstance(value, list | tuple):
        return "-".join(_as_written(part) for part in value)
    return "nothing" if value is None else str(value)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The real instant of a wall time (see the module docstring for the two DST cases)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=zone, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == wall:
        return utc
    # In a gap: fold=0 reads the wall time with the offset from before the jump, fold=1 with the
    # offset after it, and the jump lies between the two readings. Find it to the second.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(utc.timestamp())
    before = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _windows(calendar: WorkingCalendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working ranges as real-time intervals, in order, from the local day before ``start`` on.

    The day before is included because a zone may move midnight itself across a transition.
    """
    day = start.astimezone(calendar.zone).date() - timedelta(days=1)
    idle_days = 0
    while idle_days < _MAX_DAYS:
        idle_days += 1
        if day not in calendar.holidays:
            for first, last in calendar.week[day.weekday()]:
                opens = _instant(day, first, calendar.zone)
                closes = _instant(day, last, calendar.zone)
                if closes > opens:  # a range entirely inside a DST gap does not happen
                    idle_days = 0
                    yield opens, closes
        day += timedelta(days=1)
    raise ValueError("the calendar has no working time in ten years")


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("business time needs aware datetimes")


def business_add(
    start: datetime, duration: timedelta, calendar: WorkingCalendar | None
) -> datetime:
    """The instant ``duration`` of business time after ``start`` (``None``: around the clock).

    The answer is in ``start``'s time zone.
    """
    _require_aware(start)
    if duration < timedelta(0):
        raise ValueError("business time only moves forward")
    # Arithmetic on datetimes that share a zone is wall-clock arithmetic in Python (an hour
    # too many or too few across a DST change), so all of it happens in UTC.
    begin = start.astimezone(UTC)
    if calendar is None or duration == timedelta(0):
        return (begin + duration).astimezone(start.tzinfo)
    remaining = duration
    for opens, closes in _windows(calendar, begin):
        if closes <= begin:
            continue
        available = closes - max(opens, begin)
        if available >= remaining:
            return (max(opens, begin) + remaining).astimezone(start.tzinfo)
        remaining -= available
    raise AssertionError("unreachable: _windows raises when it runs out")


def business_time_between(
    start: datetime, end: datetime, calendar: WorkingCalendar | None
) -> timedelta:
    """Business time from ``start`` to ``end``; negative when ``end`` comes first."""
    _require_aware(start)
    _require_aware(end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # real, not wall-clock, differences
    if end < start:
        return -business_time_between(end, start, calendar)
    if calendar is None:
        return end - start
    total = timedelta(0)
    for opens, closes in _windows(calendar, start):
        if opens >= end:
            break
        overlap = min(closes, end) - max(opens, start)
        if overlap > timedelta(0):
            total += overlap
    return total


def business_deadline(
    start: datetime, minutes: float, calendar: WorkingCalendar | None
) -> datetime:
    """When ``minutes`` of business time have passed since ``start``."""
    return business_add(start, timedelta(minutes=minutes), calendar)


def business_minutes_between(
    start: datetime, end: datetime, calendar: WorkingCalendar | None
) -> float:
    return business_time_between(start, end, calendar) / timedelta(minutes=1)
