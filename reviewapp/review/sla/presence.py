"""Who of a queue's reviewers is at work now, and how much they carry: the managers' Reviewers
panel of a queue.

Presence comes from signs of life the app records anyway, the latest of: a heartbeat on a
claim (the review page posts one every minute while open), a decision in the queue today, and
signing in. A manager's assignment stamps ``last_seen_at`` too, so only a stamp later than the
claim counts as the reviewer's own heartbeat.

Cost: the reviewers (one query, with their profiles), then two grouped queries for all of them
together: their claims (task_claimed_by_idx holds only claimed rows) and the queue's decisions
of today (task_decided_idx). Never a query per reviewer.
"""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q
from django.utils import timezone

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.review.reviews.access import queue_reviewers
from reviewapp.review.reviews.eligibility import live_claims, room_under_caps
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskStatus
from reviewapp.review.sla.board import PercentileCont

# A heartbeat comes every 60 s while a review page is open: one missed beat is still active.
ACTIVE_WITHIN = timedelta(minutes=2)
# Longer than a coffee, shorter than lunch.
IDLE_WITHIN = timedelta(minutes=15)
# Within a working day of the last sign of life someone is away from the desk, not gone.
AWAY_WITHIN = timedelta(hours=8)


class Presence:
    ACTIVE = "active"
    IDLE = "idle"
    AWAY = "away"
    OFFLINE = "offline"


PRESENCE_LABELS = {
    Presence.ACTIVE: "Active now",
    Presence.IDLE: "Idle",
    Presence.AWAY: "Away",
    Presence.OFFLINE: "Offline",
}


def presence_of(last_sign: datetime | None, now: datetime) -> str:
    if last_sign is None:
        return Presence.OFFLINE
    quiet = now - last_sign
    if quiet <= ACTIVE_WITHIN:
        return Presence.ACTIVE
    if quiet <= IDLE_WITHIN:
        return Presence.IDLE
    if quiet <= AWAY_WITHIN:
        return Presence.AWAY
    return Presence.OFFLINE


@dataclass
class ReviewerWorkload:
    reviewer: Any
    presence: str
    last_sign: datetime | None
    held: int  # live claims in this queue
    decided_today: int  # in this queue, since midnight in the reader's time zone
    median_today: timedelta | None  # claim to decision, over today's decisions
    room: int | None  # more tasks of this queue they may take (None: no cap)

    @property
    def presence_label(self) -> str:
        return PRESENCE_LABELS[self.presence]


def _grouped(queryset) -> Iterable[dict[str, Any]]:
    """Rows of a grouped ``values().annotate()`` (the stubs cannot type ``**`` aggregates)."""
    return cast(Iterable[dict[str, Any]], queryset)


def _work_time():
    return ExpressionWrapper(F("decided_at") - F("claimed_at"), output_field=DurationField())


def queue_reviewer_workloads(queue: Queue) -> list[ReviewerWorkload]:
    """Each reviewer of the queue, by name: presence, tasks held, today's decisions and their
    median time, room left under the caps (``eligibility.room_under_caps``)."""
    now = timezone.now()
    day_start = timezone.make_aware(datetime.combine(timezone.localdate(now), datetime.min.time()))
    reviewers = list(queue_reviewers(queue).select_related("reviewer_profile"))
    if not reviewers:
        return []
    ids = [reviewer.pk for reviewer in reviewers]
    claims: dict[int, dict[str, Any]] = {
        row["claimed_by_id"]: row
        for row in _grouped(
            ReviewTask.objects.filter(status=TaskStatus.CLAIMED, claimed_by_id__in=ids)
            .order_by()
            .values("claimed_by_id")
            .annotate(
                held=Count("pk", filter=live_claims(now)),
                held_here=Count("pk", filter=live_claims(now) & Q(queue_id=queue.pk)),
                heartbeat=Max("last_seen_at", filter=Q(last_seen_at__gt=F("claimed_at"))),
            )
        )
    }
    today = ReviewTask.objects.filter(
        queue_id=queue.pk,
        status=TaskStatus.DECIDED,
        decided_at__gte=day_start,
        claimed_by_id__in=ids,
    ).order_by()
    decided: dict[int, dict[str, Any]] = {}
    if connection.vendor == "postgresql":
        for row in _grouped(
            today.values("claimed_by_id").annotate(
                n=Count("pk"),
                last=Max("decided_at"),
                median=PercentileCont(
                    _work_time(), fraction=0.5, filter=Q(claimed_at__isnull=False)
                ),
            )
        ):
            decided[row["claimed_by_id"]] = row
    else:
        # SQLite has no percentile_cont; the quick start's day is small.
        for holder, claimed_at, decided_at in today.values_list(
            "claimed_by_id", "claimed_at", "decided_at"
        ):
            row = decided.setdefault(holder, {"n": 0, "last": decided_at, "spans": []})
            row["n"] += 1
            row["last"] = max(row["last"], decided_at)
            if claimed_at is not None and decided_at is not None:
                row["spans"].append(decided_at - claimed_at)
        for row in decided.values():
            row["median"] = statistics.median(row["spans"]) if row["spans"] else None
    workloads = []
    for reviewer in reviewers:
        held = claims.get(reviewer.pk, {})
        day = decided.get(reviewer.pk, {})
        signs = [held.get("heartbeat"), day.get("last"), reviewer.last_login]
        last_sign = max((sign for sign in signs if sign is not None), default=None)
        profile = getattr(reviewer, "reviewer_profile", None) or ReviewerProfile(user=reviewer)
        workloads.append(
            ReviewerWorkload(
                reviewer=reviewer,
                presence=presence_of(last_sign, now),
                last_sign=last_sign,
                held=held.get("held_here", 0),
                decided_today=day.get("n", 0),
                median_today=day.get("median"),
                room=room_under_caps(
                    queue,
                    profile,
                    held=held.get("held", 0),
                    held_in_queue=held.get("held_here", 0),
                ),
            )
        )
    return workloads
