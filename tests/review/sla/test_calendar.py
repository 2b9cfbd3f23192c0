"""Business-time arithmetic: hand-computed cases, then properties over random calendars.

The random calendars live in zones with daylight saving (Berlin, New York, and Lord Howe with
its half-hour shift) and the start times are drawn around their transitions on purpose.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reviewapp.review.sla.calendar import (
    WEEKDAYS,
    WorkingCalendar,
    business_deadline,
    business_minutes_between,
    business_time_between,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
OFFICE = {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]}
ALL_DAY = {day: [["00:00", "24:00"]] for day in WEEKDAYS}


def calendar(zone=BERLIN, hours=None, holidays=()):
    return WorkingCalendar.from_config(
        time_zone=zone, working_hours=OFFICE if hours is None else hours, holidays=list(holidays)
    )


def local(zone, *args, fold=0):
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


# --- hand-computed ------------------------------------------------------------------------------


def test_the_weekend_does_not_count():
    friday_4pm = local(BERLIN, 2026, 3, 27, 16, 0)

    assert business_deadline(friday_4pm, 120, calendar()) == local(BERLIN, 2026, 3, 30, 10, 0)


def test_a_deadline_over_the_spring_forward_weekend_keeps_office_hours():
    # Clocks in Berlin go forward on Sunday 29 March 2026: Friday is UTC+1, Monday UTC+2.
    deadline = business_deadline(local(BERLIN, 2026, 3, 27, 16, 0), 120, calendar())

    assert deadline == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_new_york_office_hours_across_its_spring_forward():
    # New York moves on Sunday 8 March 2026, three weeks before Europe.
    deadline = business_deadline(local(NEW_YORK, 2026, 3, 6, 16, 0), 120, calendar(NEW_YORK))

    assert deadline == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Monday 10:00 EDT


def test_a_round_the_clock_calendar_has_a_23_hour_day_in_spring_and_a_25_hour_day_in_autumn():
    berlin, new_york = calendar(BERLIN, ALL_DAY), calendar(NEW_YORK, ALL_DAY)

    spring = business_minutes_between(
        local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 30, 0, 0), berlin
    )
    autumn = business_minutes_between(
        local(NEW_YORK, 2026, 11, 1, 0, 0), local(NEW_YORK, 2026, 11, 2, 0, 0), new_york
    )

    assert (spring, autumn) == (23 * 60, 25 * 60)


def test_a_day_of_business_time_on_the_spring_forward_day_ends_an_hour_later_on_the_wall():
    saturday_noon = local(BERLIN, 2026, 3, 28, 12, 0)

    deadline = business_deadline(saturday_noon, 24 * 60, calendar(BERLIN, ALL_DAY))

    assert deadline == local(BERLIN, 2026, 3, 29, 13, 0)
    # (Subtracting two datetimes of one zone would give the wall-clock difference, 25 hours.)
    assert deadline.astimezone(UTC) - saturday_noon.astimezone(UTC) == timedelta(hours=24)


def test_working_hours_that_the_clock_skips_or_repeats():
    # Sunday 02:00-04:00: on 29 March 02:00-03:00 never happens, on 25 October it happens twice.
    night = calendar(BERLIN, {"sun": [["02:00", "04:00"]]})

    spring = business_minutes_between(
        local(BERLIN, 2026, 3, 28, 12, 0), local(BERLIN, 2026, 3, 30, 12, 0), night
    )
    autumn = business_minutes_between(
        local(BERLIN, 2026, 10, 24, 12, 0), local(BERLIN, 2026, 10, 26, 12, 0), night
    )

    assert (spring, autumn) == (60, 180)
    assert business_deadline(local(BERLIN, 2026, 3, 28, 12, 0), 1, night) == local(
        BERLIN, 2026, 3, 29, 3, 1
    )


def test_holidays_are_skipped():
    christmas = calendar(holidays=["2026-12-25"])  # a Friday

    deadline = business_deadline(local(BERLIN, 2026, 12, 24, 16, 30), 60, christmas)

    assert deadline == local(BERLIN, 2026, 12, 28, 9, 30)


def test_a_lunch_break_does_not_count():
    split = calendar(hours={"mon": [["09:00", "12:00"], ["13:00", "17:00"]]})

    assert business_deadline(local(BERLIN, 2026, 6, 1, 11, 30), 60, split) == local(
        BERLIN, 2026, 6, 1, 13, 30
    )


def test_time_outside_working_hours_waits_for_the_next_opening():
    saturday = local(BERLIN, 2026, 6, 6, 22, 15)

    assert business_deadline(saturday, 30, calendar()) == local(BERLIN, 2026, 6, 8, 9, 30)
    assert business_minutes_between(saturday, local(BERLIN, 2026, 6, 8, 9, 0), calendar()) == 0


def test_without_a_calendar_the_clock_runs_around_the_clock():
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)

    assert business_deadline(start, 600, None) == start + timedelta(hours=10)
    assert business_minutes_between(start, start + timedelta(hours=10), None) == 600


def test_local_start_times_count_real_time_not_wall_time():
    # 01:30 to 04:30 on the spring-forward night shows three hours on the wall; two pass.
    before, after = local(BERLIN, 2026, 3, 29, 1, 30), local(BERLIN, 2026, 3, 29, 4, 30)
    all_day = calendar(BERLIN, ALL_DAY)

    assert business_minutes_between(before, after, all_day) == 120
    assert business_minutes_between(before, after, None) == 120
    assert business_deadline(before, 120, all_day) == after
    assert business_deadline(before, 120, None) == after


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        business_deadline(datetime(2026, 3, 2, 9, 0), 10, calendar())


# --- properties ---------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
# DST transitions (UTC) of the zones above in 2026, to draw start times near them.
TRANSITIONS = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    datetime(2026, 4, 4, 15, 0, tzinfo=UTC),
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
]


@st.composite
def day_ranges(draw):
    """Sorted, non-overlapping ranges of one day, at any minute (so some land in DST gaps)."""
    cuts = draw(st.lists(st.integers(0, 24 * 60), min_size=0, max_size=6, unique=True))
    cuts.sort()
    cuts = cuts[: len(cuts) // 2 * 2]
    return [[_hhmm(cuts[i]), _hhmm(cuts[i + 1])] for i in range(0, len(cuts), 2)]


def _hhmm(minute):
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def calendars(draw):
    hours = {day: draw(day_ranges()) for day in WEEKDAYS}
    assume(any(hours.values()))
    holidays = draw(
        st.lists(st.dates(date(2026, 1, 1), date(2027, 3, 1)), max_size=20).map(
            lambda days: [day.isoformat() for day in days]
        )
    )
    return WorkingCalendar.from_config(
        time_zone=draw(st.sampled_from(ZONES)), working_hours=hours, holidays=holidays
    )


# Start instants in UTC or in one of the zones (the answer must not depend on which).
instants = st.builds(
    lambda at, zone: at.astimezone(ZoneInfo(zone)),
    st.one_of(
        st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
        st.builds(
            lambda at, minutes: at + timedelta(minutes=minutes),
            st.sampled_from(TRANSITIONS),
            st.integers(-3 * 24 * 60, 3 * 24 * 60),
        ),
    ),
    st.sampled_from(ZONES),
)
durations = st.integers(0, 5 * 24 * 60)


def is_working(instant, cal):
    """An oracle written from the rules, not from the implementation's interval walk.

    Outside a repeated hour: the wall time lies in one of the day's ranges. In the second pass
    of a repeated hour, the ranges opened on the first pass, so only a range that runs across
    the end of the repeated hour (and so has not closed yet) is working.
    """
    wall = instant.astimezone(cal.zone)
    if wall.date() in cal.holidays:
        return False
    ranges = cal.week[wall.weekday()]
    minute = wall.hour * 60 + wall.minute + (wall.second + wall.microsecond / 1e6) / 60
    first, second = wall.replace(fold=0).utcoffset(), wall.replace(fold=1).utcoffset()
    if wall.fold == 1 and first != second:
        repeat_ends = wall.replace(second=0, microsecond=0)
        while repeat_ends.replace(fold=0).utcoffset() != repeat_ends.replace(fold=1).utcoffset():
            repeat_ends = (repeat_ends.replace(tzinfo=None) + timedelta(minutes=1)).replace(
                tzinfo=cal.zone
            )
        end = repeat_ends.hour * 60 + repeat_ends.minute
        return any(opens < end <= closes for opens, closes in ranges)
    return any(opens <= minute < closes for opens, closes in ranges)


@settings(max_examples=300, deadline=None)
@given(cal=calendars(), start=instants, minutes=st.integers(1, 5 * 24 * 60))
def test_a_deadline_falls_inside_working_hours(cal, start, minutes):
    deadline = business_deadline(start, minutes, cal).astimezone(UTC)

    assert deadline > start
    # The last microsecond of business time before the deadline was working time.
    assert is_working(deadline - timedelta(microseconds=1), cal)


@settings(max_examples=300, deadline=None)
@given(cal=calendars(), start=instants, first=durations, then=durations)
def test_adding_a_then_b_is_adding_a_plus_b(cal, start, first, then):
    step_by_step = business_deadline(business_deadline(start, first, cal), then, cal)

    assert step_by_step == business_deadline(start, first + then, cal)


@settings(max_examples=300, deadline=None)
@given(cal=st.one_of(st.none(), calendars()), start=instants, minutes=durations)
def test_the_minutes_between_start_and_deadline_are_the_minutes_asked_for(cal, start, minutes):
    deadline = business_deadline(start, minutes, cal)

    assert business_minutes_between(start, deadline, cal) == minutes


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), start=instants, shorter=durations, longer=durations)
def test_a_longer_target_never_ends_earlier(cal, start, shorter, longer):
    assume(shorter <= longer)

    assert business_deadline(start, shorter, cal) <= business_deadline(start, longer, cal)


@settings(max_examples=200, deadline=None)
@given(
    cal=calendars(),
    start=instants,
    gaps=st.tuples(st.integers(0, 4 * 24 * 60), st.integers(0, 4 * 24 * 60)),
)
def test_business_time_adds_up_over_consecutive_intervals(cal, start, gaps):
    start = start.astimezone(UTC)
    middle = start + timedelta(minutes=gaps[0])
    end = middle + timedelta(minutes=gaps[1])

    total = business_time_between(start, middle, cal) + business_time_between(middle, end, cal)

    assert total == business_time_between(start, end, cal)
    assert timedelta(0) <= total <= end - start


def test_a_long_target_on_a_sparse_calendar_still_has_a_deadline():
    # One working minute a week: 600 minutes take 600 weeks, more than ten years.
    sparse = calendar(BERLIN, {"sun": [["00:00", "00:01"]]})
    start = local(BERLIN, 2026, 3, 29, 3, 0)

    deadline = business_deadline(start, 600, sparse)

    assert business_minutes_between(start, deadline, sparse) == 600
    assert deadline.astimezone(ZoneInfo(BERLIN)).weekday() == 6
