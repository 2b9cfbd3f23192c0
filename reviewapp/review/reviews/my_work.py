"""Reads for a reviewer's own page: what they hold, what they did today, how fast, how right."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Count, Q
from django.utils import timezone

from reviewapp.review.quality.models import GoldTask
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from workflows.models import ItemStatus


@dataclass(frozen=True)
class MyWork:
    held: list[ReviewTask]
    done_today: int
    median_time: timedelta | None  # per decision today; None before the first
    gold_total: int
    gold_correct: int
    # The reviewer's last decision, while it can still be taken back (its item has not resumed).
    undoable: Decision | None

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_total if self.gold_total else None


def start_of_today(now: datetime) -> datetime:
    """Midnight in the zone pages are shown in (the reviewer's own, see TimeZoneMiddleware)."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def my_work(*, reviewer) -> MyWork:
    """Four queries whatever the reviewer's history: held tasks, today's decisions, gold, last."""
    now = timezone.now()
    held = list(
        ReviewTask.objects.filter(
            status=TaskStatus.CLAIMED, claimed_by_id=reviewer.pk, lease_expires_at__gt=now
        )
        .select_related("queue", "item")
        .order_by("claimed_at", "id")
    )
    today = list(
        Decision.objects.filter(reviewer_id=reviewer.pk, decided_at__gte=start_of_today(now))
        .values_list("time_spent_ms", "decided_at", "task__claimed_at")
        .order_by()
    )
    # The time the page measured on screen; without it (API clients), claim to decision.
    seconds: list[float] = []
    for spent, decided, claimed in today:
        if spent is not None:
            seconds.append(spent / 1000)
        elif claimed is not None:
            seconds.append((decided - claimed).total_seconds())
    gold = GoldTask.objects.filter(
        task__decision__reviewer_id=reviewer.pk, scored_at__isnull=False
    ).aggregate(total=Count("id"), correct=Count("id", filter=Q(correct=True)))
    last = (
        Decision.objects.filter(reviewer_id=reviewer.pk)
        .select_related("task__queue", "task__item")
        .order_by("-decided_at", "-id")
        .first()
    )
    return MyWork(
        held=held,
        done_today=len(today),
        median_time=timedelta(seconds=median(seconds)) if seconds else None,
        gold_total=gold["total"],
        gold_correct=gold["correct"],
        undoable=last
        if last is not None and last.task.item.status == ItemStatus.AWAITING_REVIEW
        else None,
    )
