"""Reads for the managers' SLA board: live figures per queue, chart series, the weekly report.

Every figure for every queue the manager manages comes from five grouped queries
(``GROUP BY queue_id`` with ``FILTER`` aggregates), never one query per queue. Each query
names the task status first so that PostgreSQL can match a partial index: open tasks come from
``task_claimable_idx`` (queue, created_at and id are in it, so an index-only scan). The claimed
and flagged counts and the decision history have no dedicated index yet; at a million rows
they want partial indexes on ``(queue, decided_at) WHERE status = 'decided'``,
``(queue, breached_at) WHERE breached_at IS NOT NULL`` and ``(queue) WHERE status IN (live)
AND (at_risk_at IS NOT NULL OR breached_at IS NOT NULL)``, whose conditions the queries below
already spell out.
"""

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncDate, TruncWeek
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.utils import timezone

from reviewapp.reviews.models import (
    LIVE_STATUSES,
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
DRILL_DOWN_LIMIT = 100


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
    decided_last_hour: int = 0
    decided_last_day: int = 0
    overridden_last_day: int = 0
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
        """Corrected or rejected share of the last 24 hours' decisions; none without any."""
        if not self.decided_last_day:
            return None
        return self.overridden_last_day / self.decided_last_day


def _grouped(queryset: QuerySet) -> Iterable[dict[str, Any]]:
    """Rows of a grouped ``values().annotate()`` (the stubs cannot type ``**`` aggregates)."""
    return cast(Iterable[dict[str, Any]], queryset)


def _time_to_decision():
    return ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())


def _live_figures(boards: dict[int, QueueBoard], now: datetime) -> None:
    ids = list(boards)
    # Open: one pass over the partial claim index of these queues.
    for row in _grouped(
        ReviewTask.objects.filter(queue_id__in=ids, status=TaskStatus.OPEN)
        .order_by()
        .values("queue_id")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    ):
        board = boards[row["queue_id"]]
        board.open = row["n"]
        board.oldest_open_at = row["oldest"]
        board.oldest_open_age = now - row["oldest"]
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
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(hours=24)
    last_day = ReviewTask.objects.filter(
        queue_id__in=list(boards), status=TaskStatus.DECIDED, decided_at__gte=day_ago
    ).order_by()
    aggregates: dict[str, Aggregate] = {
        "last_day": Count("id"),
        "last_hour": Count("id", filter=Q(decided_at__gte=hour_ago)),
        "overridden": Count("id", filter=Q(decision__outcome__in=OVERRIDES)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:
        aggregates["median"] = PercentileCont(_time_to_decision(), fraction=0.5)
    for row in _grouped(last_day.values("queue_id").annotate(**aggregates)):
        board = boards[row["queue_id"]]
        board.decided_last_day = row["last_day"]
        board.decided_last_hour = row["last_hour"]
        board.overridden_last_day = row["overridden"]
        if postgres:
            board.median_time_to_decision = row["median"]
    if not postgres:
        # SQLite has no percentile_cont; the embedded quick start has few rows to ship.
        seconds: dict[int, list[float]] = defaultdict(list)
        for row in _grouped(last_day.values("queue_id", "created_at", "decided_at")):
            elapsed = row["decided_at"] - row["created_at"]
            seconds[row["queue_id"]].append(elapsed.total_seconds())
        for queue_id, values in seconds.items():
            boards[queue_id].median_time_to_decision = timedelta(seconds=statistics.median(values))


def _histogram_conditions() -> list[Q]:
    elapsed = _time_to_decision()
    conditions: list[Q] = []
    lower: timedelta | None = None
    for _, upper in HISTOGRAM_BOUNDS:
        parts: list[Any] = []
        if lower is not None:
            parts.append(GreaterThanOrEqual(elapsed, lower))
        if upper is not None:
            parts.append(LessThan(elapsed, upper))
        conditions.append(Q(*parts))
        lower = upper
    return conditions


def _series(boards: dict[int, QueueBoard], now: datetime) -> None:
    today = timezone.localdate(now)
    days = [today - timedelta(days=back) for back in range(SERIES_DAYS - 1, -1, -1)]
    since = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    ids = list(boards)
    decisions: dict[tuple[int, date], int] = {}
    buckets: dict[int, list[int]] = {queue_id: [0] * len(HISTOGRAM_BOUNDS) for queue_id in ids}
    bucket_counts = {
        f"bucket_{index}": Count("id", filter=condition)
        for index, condition in enumerate(_histogram_conditions())
    }
    # One pass over 14 days of decisions gives both the per-day series and the histogram.
    for row in _grouped(
        ReviewTask.objects.filter(
            queue_id__in=ids, status=TaskStatus.DECIDED, decided_at__gte=since
        )
        .order_by()
        .values("queue_id", day=TruncDate("decided_at"))
        .annotate(n=Count("id"), **bucket_counts)
    ):
        decisions[(row["queue_id"], row["day"])] = row["n"]
        for index in range(len(HISTOGRAM_BOUNDS)):
            buckets[row["queue_id"]][index] += row[f"bucket_{index}"]
    breaches = {
        (row["queue_id"], row["day"]): row["n"]
        for row in _grouped(
            ReviewTask.objects.filter(queue_id__in=ids, breached_at__gte=since)
            .order_by()
            .values("queue_id", day=TruncDate("breached_at"))
            .annotate(n=Count("id"))
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


def queue_boards(queues: QuerySet[Queue] | Iterable[Queue]) -> list[QueueBoard]:
    """The board for each queue, ordered by name, in a fixed number of queries."""
    now = timezone.now()
    if isinstance(queues, QuerySet):
        queues = queues.select_related("workflow", "team").order_by("name")
    boards = {queue.pk: QueueBoard(queue=queue) for queue in queues}
    if not boards:
        return []
    _live_figures(boards, now)
    _last_day_figures(boards, now)
    _series(boards, now)
    return list(boards.values())


def queue_tasks(
    *, queue: Queue, state: str = "", reviewer_id: int | None = None, limit: int = DRILL_DOWN_LIMIT
) -> QuerySet[ReviewTask]:
    """Live tasks of the queue for the drill-down, most urgent first (due soonest, oldest)."""
    tasks = ReviewTask.objects.filter(queue=queue, status__in=LIVE_STATUSES)
    if state == "open":
        tasks = tasks.filter(status=TaskStatus.OPEN)
    elif state == "claimed":
        tasks = tasks.filter(status=TaskStatus.CLAIMED)
    elif state == "at_risk":
        tasks = tasks.filter(at_risk_at__isnull=False, breached_at__isnull=True)
    elif state == "breached":
        tasks = tasks.filter(breached_at__isnull=False)
    if reviewer_id is not None:
        tasks = tasks.filter(claimed_by_id=reviewer_id)
    return tasks.select_related("claimed_by", "item").order_by(
        F("due_at").asc(nulls_last=True), "created_at", "id"
    )[:limit]


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
