"""Reads for the managers' SLA board: live figures per queue, chart series, the weekly report.

Every figure for every queue the manager manages comes from seven grouped queries
(``GROUP BY queue_id`` with ``FILTER`` aggregates), never one query per queue. Each query
names the task status first so that PostgreSQL can match a partial index on ReviewTask: the
open count is one pass over the open tasks (cached for a few seconds, see
``OPEN_FIGURES_MAX_AGE``), claimed and flagged counts come from ``task_claimed_by_idx`` and
``task_flagged_idx``, the decision figures from ``task_decided_idx`` and breaches from
``task_breached_idx`` (index-only scans: decisions before the window cost nothing), the day's
overrides from ``decision_override_idx``; the 14-day series reads each ended day once (see
``DAY_END_MARGIN``). The drill-down reads the live figures only (its task list is
``drill_down.py``). ``make bench-queues`` times
the board over a million open tasks.

Gold tasks (``reviewapp.review.quality``) are work in the queue like any other, so they count in
open, claimed, throughput and time to decision; they are left out of the override rate, which
is about the model, and a gold task shows a planted answer rather than the model's.
"""

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncWeek
from django.db.models.lookups import LessThan
from django.utils import timezone

from reviewapp.review.reviews.models import (
    LIVE_STATUSES,
    Decision,
    DecisionOutcome,
    Queue,
    ReviewTask,
    TaskStatus,
)

SERIES_DAYS = 14
OVERRIDES = [DecisionOutcome.CORRECT, DecisionOutcome.REJECT]
# Upper bounds of the time-to-decision histogram; the last bucket is open-ended.
HISTOGRAM_BOUNDS: list[tuple[str, timedelta | None]] = [
    ("< 5 min", timedelta(minutes=5)),
    ("5-15 min", timedelta(minutes=15)),
    ("15-60 min", timedelta(hours=1)),
    ("1-4 h", timedelta(hours=4)),
    ("4-24 h", timedelta(hours=24)),
    ("1-3 d", timedelta(days=3)),
    ("> 3 d", None),
]
DRILL_DOWN_STATES = {
    "open": "Open",
    "claimed": "Claimed",
    "at_risk": "At risk",
    "breached": "Breached",
}
# A day's decisions are final once the day has ended: a decision is stamped with the moment
# it is made (review_task_decide) and never moves or goes away. So the 14-day series and
# histogram count each ended day once and keep its figures in the cache; every poll counts only
# the days not ended (today, yesterday for an hour), however many decisions the window holds.
# The margin covers a decision stamped just before midnight that commits just after it, and
# servers whose clocks differ by less than that.
DAY_END_MARGIN = timedelta(hours=1)
# The open count of a busy queue is an exact COUNT over every open task, slow at a million
# whatever the index. The pages (each manager's board polls every 5 s)
# reuse a queue's open figures for this many seconds and say when they were counted; the
# claimed, at-risk and breached counts come from small partial indexes and stay live.
OPEN_FIGURES_MAX_AGE = 5


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set ``percentile_cont`` over an interval: the median in SQL."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass
class QueueBoard:
    queue: Queue
    open: int = 0
    claimed: int = 0
    at_risk: int = 0
    breached: int = 0
    oldest_open_at: datetime | None = None
    oldest_open_age: timedelta | None = None
    open_counted_at: datetime | None = None  # when ``open`` and the oldest were counted
    decided_last_hour: int = 0
    decided_last_day: int = 0
    overridden_last_day: int = 0
    model_checked_last_day: int = 0  # decisions of the last day on model output (not gold)
    median_time_to_decision: timedelta | None = None
    days: list[date] = field(default_factory=list)
    decisions_per_day: list[int] = field(default_factory=list)
    breaches_per_day: list[int] = field(default_factory=list)
    time_to_decision_histogram: list[tuple[str, int]] = field(default_factory=list)

    @property
    def throughput_per_hour(self) -> int:
        return self.decided_last_hour

    @property
    def override_rate(self) -> float | None:
        """Corrected or rejected share of the last 24 hours' decisions on model output (gold
        tasks left out); none without any."""
        if not self.model_checked_last_day:
            return None
        return self.overridden_last_day / self.model_checked_last_day


def _grouped(queryset: QuerySet) -> Iterable[dict[str, Any]]:
    """Rows of a grouped ``values().annotate()`` (the stubs cannot type ``**`` aggregates)."""
    return cast(Iterable[dict[str, Any]], queryset)


def _time_to_decision():
    return ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())


def _open_key(queue_id: int) -> str:
    return f"sla-board:open:{queue_id}"


def _open_figures(
    ids: list[int], now: datetime, max_age: int
) -> dict[int, tuple[int, datetime | None, datetime]]:
    """(open count, oldest open task's creation, when counted) per queue; with ``max_age``, a
    count at most that many seconds old is taken from the cache instead of counted again."""
    figures: dict[int, tuple[int, datetime | None, datetime]] = {}
    if max_age:
        cached = cache.get_many([_open_key(queue_id) for queue_id in ids])
        # Fresh by the count's own timestamp, not only the cache's expiry: a clock that moved
        # back (or a cache shared by servers whose clocks differ) never serves a count from
        # the future.
        figures = {
            queue_id: value
            for queue_id in ids
            if (value := cached.get(_open_key(queue_id))) is not None
            and timedelta(0) <= now - value[2] <= timedelta(seconds=max_age)
        }
    missing = [queue_id for queue_id in ids if queue_id not in figures]
    if not missing:
        return figures
    counted = {queue_id: (0, None, now) for queue_id in missing}
    # One pass over the open tasks of these queues.
    for row in _grouped(
        ReviewTask.objects.filter(queue_id__in=missing, status=TaskStatus.OPEN)
        .order_by()
        .values("queue_id")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    ):
        counted[row["queue_id"]] = (row["n"], row["oldest"], now)
    if max_age:
        cache.set_many({_open_key(queue_id): value for queue_id, value in counted.items()}, max_age)
    return figures | counted


def _live_figures(boards: dict[int, QueueBoard], now: datetime, open_max_age: int) -> None:
    ids = list(boards)
    for queue_id, (count, oldest, counted_at) in _open_figures(ids, now, open_max_age).items():
        board = boards[queue_id]
        board.open, board.oldest_open_at, board.open_counted_at = count, oldest, counted_at
        board.oldest_open_age = now - oldest if oldest is not None else None
    # Claimed, at risk and breached: live rows that are claimed or carry an SLA flag. The
    # status and flag conditions come first so each arm can use a partial index.
    flagged = Q(at_risk_at__isnull=False) | Q(breached_at__isnull=False)
    for row in _grouped(
        ReviewTask.objects.filter(queue_id__in=ids, status__in=LIVE_STATUSES)
        .filter(Q(status=TaskStatus.CLAIMED) | flagged)
        .order_by()
        .values("queue_id")
        .annotate(
            claimed=Count("id", filter=Q(status=TaskStatus.CLAIMED)),
            at_risk=Count("id", filter=Q(at_risk_at__isnull=False, breached_at__isnull=True)),
            breached=Count("id", filter=Q(breached_at__isnull=False)),
        )
    ):
        board = boards[row["queue_id"]]
        board.claimed, board.at_risk, board.breached = (
            row["claimed"],
            row["at_risk"],
            row["breached"],
        )


def _last_day_figures(boards: dict[int, QueueBoard], now: datetime) -> None:
    ids = list(boards)
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(hours=24)
    last_day = ReviewTask.objects.filter(
        queue_id__in=ids, status=TaskStatus.DECIDED, decided_at__gte=day_ago
    ).order_by()
    # Counts and the median read only columns of task_decided_idx (they count decided_at,
    # never null here, rather than id): an index-only scan, one page per few hundred decisions.
    aggregates: dict[str, Aggregate] = {
        "last_day": Count("decided_at"),
        "last_hour": Count("decided_at", filter=Q(decided_at__gte=hour_ago)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggregates["median"] = PercentileCont(_time_to_decision(), fraction=0.5)
    for row in _grouped(last_day.values("queue_id").annotate(**aggregates)):
        board = boards[row["queue_id"]]
        board.decided_last_day = board.model_checked_last_day = row["last_day"]
        board.decided_last_hour = row["last_hour"]
        if postgres:
            board.median_time_to_decision = row["median"]
    # The override rate leaves gold out. Joining every decision of the day to its outcome and
    # its gold showing cost more than all the rest of the board, so two small counts replace
    # the join: the day's gold tasks (a share of the work), and the day's overrides on real
    # tasks from decision_override_idx (corrections and rejections only).
    for row in _grouped(
        last_day.filter(gold__isnull=False).values("queue_id").annotate(n=Count("*"))
    ):
        boards[row["queue_id"]].model_checked_last_day -= row["n"]
    # A decision and its task share one decided_at (review_task_decide): the decision's lets
    # the index find the day, the task's keeps the window exactly the one counted above.
    for row in _grouped(
        Decision.objects.filter(
            outcome__in=OVERRIDES,
            decided_at__gte=day_ago,
            task__queue_id__in=ids,
            task__status=TaskStatus.DECIDED,
            task__decided_at__gte=day_ago,
            task__gold__isnull=True,
        )
        .order_by()
        .values("task__queue_id")
        .annotate(n=Count("*"))
    ):
        boards[row["task__queue_id"]].overridden_last_day = row["n"]
    if not postgres:
        # SQLite has no percentile_cont; the embedded quick start has few rows to ship.
        seconds: dict[int, list[float]] = defaultdict(list)
        for row in _grouped(last_day.values("queue_id", "created_at", "decided_at")):
            elapsed = row["decided_at"] - row["created_at"]
            seconds[row["queue_id"]].append(elapsed.total_seconds())
        for queue_id, values in seconds.items():
            boards[queue_id].median_time_to_decision = timedelta(seconds=statistics.median(values))


def _histogram_bucket() -> Case:
    """The index in HISTOGRAM_BOUNDS of a decision's time to decision."""
    elapsed = _time_to_decision()
    return Case(
        *(
            When(LessThan(elapsed, upper), then=Value(index))
            for index, (_, upper) in enumerate(HISTOGRAM_BOUNDS)
            if upper is not None
        ),
        default=Value(len(HISTOGRAM_BOUNDS) - 1),
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _ended_day_key(queue_id: int, day: date) -> str:
    # Days are local dates: the same instant falls on another day in another time zone.
    return f"sla-board:decided:{timezone.get_current_timezone_name()}:{queue_id}:{day}"


def _series(boards: dict[int, QueueBoard], now: datetime) -> None:
    today = timezone.localdate(now)
    days = [today - timedelta(days=back) for back in range(SERIES_DAYS - 1, -1, -1)]
    ids = list(boards)
    ended = [day for day in days if _day_start(day + timedelta(days=1)) <= now - DAY_END_MARGIN]
    keys = {(queue_id, day): _ended_day_key(queue_id, day) for queue_id in ids for day in ended}
    kept = cache.get_many(list(keys.values()))
    per_day: dict[tuple[int, date], list[int]] = {
        pair: kept[key] for pair, key in keys.items() if key in kept
    }
    # One query either way: from the first ended day not kept yet (the days after it are
    # counted again and kept too), else over the days not ended. From task_decided_idx alone
    # (see _last_day_figures); grouping by the bucket works out each decision's bucket once
    # (one FILTER aggregate per bucket took twice as long).
    missing = [day for day in ended if any((queue_id, day) not in per_day for queue_id in ids)]
    first = missing[0] if missing else days[len(ended)]
    counted: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0] * len(HISTOGRAM_BOUNDS))
    for row in _grouped(
        ReviewTask.objects.filter(
            queue_id__in=ids, status=TaskStatus.DECIDED, decided_at__gte=_day_start(first)
        )
        .order_by()
        .values("queue_id", day=TruncDate("decided_at"), bucket=_histogram_bucket())
        .annotate(n=Count("decided_at"))
    ):
        counted[(row["queue_id"], row["day"])][row["bucket"]] += row["n"]
    newly_ended = {pair: counted[pair] for pair in keys if pair[1] >= first}
    if newly_ended:
        cache.set_many(
            {keys[pair]: counts for pair, counts in newly_ended.items()},
            timeout=SERIES_DAYS * 24 * 3600,
        )
    per_day |= counted
    empty = [0] * len(HISTOGRAM_BOUNDS)
    decisions = {pair: sum(counts) for pair, counts in per_day.items()}
    buckets = {
        queue_id: [
            sum(per_day.get((queue_id, day), empty)[index] for day in days)
            for index in range(len(HISTOGRAM_BOUNDS))
        ]
        for queue_id in ids
    }
    since = _day_start(days[0])
    # Breaches from task_breached_idx alone.
    breaches = {
        (row["queue_id"], row["day"]): row["n"]
        for row in _grouped(
            ReviewTask.objects.filter(queue_id__in=ids, breached_at__gte=since)
            .order_by()
            .values("queue_id", day=TruncDate("breached_at"))
            .annotate(n=Count("breached_at"))
        )
    }
    for queue_id, board in boards.items():
        board.days = days
        board.decisions_per_day = [decisions.get((queue_id, day), 0) for day in days]
        board.breaches_per_day = [breaches.get((queue_id, day), 0) for day in days]
        board.time_to_decision_histogram = [
            (label, count)
            for (label, _), count in zip(HISTOGRAM_BOUNDS, buckets[queue_id], strict=True)
        ]


def queue_boards(
    queues: QuerySet[Queue] | Iterable[Queue], *, open_max_age: int = 0
) -> list[QueueBoard]:
    """The board for each queue, ordered by name, in a fixed number of queries.

    ``open_max_age`` (seconds) lets the open figures come from a count that recent (see
    ``OPEN_FIGURES_MAX_AGE``); every other figure is read now. By default all are exact."""
    now = timezone.now()
    if isinstance(queues, QuerySet):
        queues = queues.select_related("workflow", "team").order_by("name")
    boards = {queue.pk: QueueBoard(queue=queue) for queue in queues}
    if not boards:
        return []
    _live_figures(boards, now, open_max_age)
    _last_day_figures(boards, now)
    _series(boards, now)
    return list(boards.values())


def queue_live_figures(queue: Queue, *, open_max_age: int = 0) -> QueueBoard:
    """One queue's live figures only (open, claimed, at risk, breached, the oldest open task):
    the drill-down's header, which shows no decision figure or chart, so it reads none."""
    boards = {queue.pk: QueueBoard(queue=queue)}
    _live_figures(boards, timezone.now(), open_max_age)
    return boards[queue.pk]


@dataclass(frozen=True)
class WeekRow:
    queue: Queue
    week: str  # ISO week, e.g. 2026-W47
    decided: int
    met: int
    breached: int


def sla_weekly_report(*, queue: Queue, weeks: int = 12) -> list[WeekRow]:
    """Per ISO week (of the decision), the queue's decided tasks that met or breached the SLA.

    A task breached if the sweep marked it or it was decided after it was due (the sweep may
    not have passed yet). Tasks without a clock (no policy) count as decided only.
    """
    now = timezone.now()
    this_monday = timezone.localdate(now) - timedelta(days=timezone.localdate(now).weekday())
    since = timezone.make_aware(
        datetime.combine(this_monday - timedelta(weeks=weeks - 1), datetime.min.time())
    )
    late = Q(breached_at__isnull=False) | Q(due_at__isnull=False, decided_at__gt=F("due_at"))
    rows = (
        ReviewTask.objects.filter(queue=queue, status=TaskStatus.DECIDED, decided_at__gte=since)
        .order_by()
        .values(week=TruncWeek("decided_at"))
        .annotate(
            decided=Count("id"),
            breached=Count("id", filter=late),
            met=Count("id", filter=Q(due_at__isnull=False) & ~late),
        )
        .order_by("week")
    )
    report = []
    for row in rows:
        year, week, _ = row["week"].isocalendar()
        report.append(
            WeekRow(
                queue=queue,
                week=f"{year}-W{week:02d}",
                decided=row["decided"],
                met=row["met"],
                breached=row["breached"],
            )
        )
    return report
