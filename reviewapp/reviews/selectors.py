"""Reads for reviewers and their queues."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from reviewapp.reviews.models import Queue, ReviewTask, TaskStatus


@dataclass(frozen=True)
class QueueCounts:
    queue: Queue
    open: int
    claimed: int
    mine: int


def queues_with_counts(queues: QuerySet[Queue], *, reviewer) -> list[QueueCounts]:
    """Each queue with its open tasks, live claims and the reviewer's own, in one query."""
    now = timezone.now()
    annotated = (
        queues.select_related("workflow", "team")
        .annotate(
            open_count=Count("tasks", filter=Q(tasks__status=TaskStatus.OPEN)),
            claimed_count=Count(
                "tasks", filter=Q(tasks__status=TaskStatus.CLAIMED, tasks__lease_expires_at__gt=now)
            ),
            mine_count=Count(
                "tasks",
                filter=Q(
                    tasks__status=TaskStatus.CLAIMED,
                    tasks__claimed_by=reviewer,
                    tasks__lease_expires_at__gt=now,
                ),
            ),
        )
        .order_by("name")
    )
    return [
        QueueCounts(queue=q, open=q.open_count, claimed=q.claimed_count, mine=q.mine_count)
        for q in annotated
    ]


def task_summary(task: ReviewTask, *, viewer) -> dict:
    item = task.item
    prediction = item.prediction
    holds_claim = task.status == TaskStatus.CLAIMED and task.claimed_by_id == viewer.pk
    return {
        "id": task.pk,
        "queue": task.queue_id,
        "status": task.status,
        "priority": task.priority,
        "item": {"id": item.pk, "input": item.input},
        "prediction": {
            "output": prediction.output,
            "confidence": prediction.confidence,
            "probabilities": prediction.probabilities,
        },
        "routing": item.routing,
        "claim_token": str(task.claim_token) if holds_claim else None,
        "lease_expires_at": task.lease_expires_at.isoformat()
        if holds_claim and task.lease_expires_at
        else None,
    }
