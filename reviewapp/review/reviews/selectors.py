"""Reads for reviewers and their queues."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, Q, QuerySet, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.models import Queue, QueueKind, ReviewTask, TaskStatus
from reviewapp.review.reviews.statements import hot_cursor, quote
from workflows.models import Item


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
    holds_claim = task.status == TaskStatus.CLAIMED and task.claimed_by_id == viewer.pk
    if task.queue.kind == QueueKind.PAIRWISE:
        # The serving model's answer would tell which side of the comparison is which: a
        # pairwise task is read through /api/v1/pairwise/tasks/<id>, blind.
        return {
            "id": task.pk,
            "queue": task.queue_id,
            "kind": QueueKind.PAIRWISE.value,
            "status": task.status,
            "priority": task.priority,
            "claim_token": str(task.claim_token) if holds_claim else None,
            "lease_expires_at": task.lease_expires_at.isoformat()
            if holds_claim and task.lease_expires_at
            else None,
        }
    # A task just claimed comes without its item: read it with its prediction in one query.
    if ReviewTask.item.is_cached(task):
        item = task.item
    else:
        item = Item.objects.select_related("prediction").get(pk=task.item_id)
    prediction = item.prediction
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


# What the review page's history says for each task event, and which detail it may show. Only
# these: four-eyes and gold events stay off the page (a pair reviewer must not see the other
# answer, and nothing may tell a gold task apart), and a decision shows who, never what.
HISTORY_EVENTS = {
    "task.opened": ("Sent to {queue}", None),
    "task.claimed": ("Claimed", None),
    "task.released": ("Released", None),
    "task.skipped": ("Skipped", "reason"),
    "task.lease_expired": ("Claim expired", None),
    "task.reassigned": ("Assigned", None),
    "task.unassigned": ("Unassigned", None),
    "task.sla_paused": ("SLA clock paused", "reason"),
    "task.sla_resumed": ("SLA clock resumed", "reason"),
    "task.at_risk": ("At risk", None),
    "task.breached": ("SLA breached", None),
    "task.escalated": ("Escalated", "action"),
    "task.decided": ("Decided", None),
}


@dataclass(frozen=True)
class HistoryEntry:
    occurred_at: datetime
    what: str
    who: str
    note: str


def item_history(item, *, only_task=None, limit: int = 50) -> list[HistoryEntry]:
    """What happened to the item's review tasks, oldest first, in one query.

    Everything a reviewer needs to pick up where a colleague left off (skips and their reasons,
    pauses, escalations, earlier decisions by whom), read from the audit trail. ``only_task``
    narrows it to one task: a four-eyes pair reviewer does not learn who the other one is.
    """
    entries = []
    for occurred_at, action, actor_label, data in reversed(
        _history_rows(item.pk, None if only_task is None else only_task.pk, limit)
    ):
        label, detail = HISTORY_EVENTS[action]
        data = data or {}
        entries.append(
            HistoryEntry(
                occurred_at=occurred_at,
                what=label.format(queue=data.get("queue") or "the queue"),
                who=actor_label,
                note=str(data.get(detail) or "") if detail else "",
            )
        )
    return entries


def _history_rows(item_id: int, task_id: int | None, limit: int) -> list[tuple]:
    """(occurred_at, action, actor_label, data) of the item's tasks, newest first.

    The review page reads this on every task shown: on PostgreSQL a prepared statement, as
    the claim's (building the queryset cost more CPU than running it)."""
    if connection.vendor != "postgresql":
        tasks = ReviewTask.objects.filter(item_id=item_id)
        if task_id is not None:
            tasks = tasks.filter(pk=task_id)
        task_ids = tasks.annotate(key=Cast("pk", output_field=CharField())).values("key")
        return list(
            AuditEvent.objects.filter(
                object_type=ReviewTask._meta.label_lower,
                object_id__in=Subquery(task_ids),
                action__in=list(HISTORY_EVENTS),
            )
            .order_by("-occurred_at", "-id")
            .values_list("occurred_at", "action", "actor_label", "data")[:limit]
        )
    params: list = [ReviewTask._meta.label_lower, list(HISTORY_EVENTS), item_id]
    if task_id is not None:
        params.append(task_id)
    data_field: Any = AuditEvent._meta.get_field("data")
    with hot_cursor() as cursor:
        cursor.execute(_history_sql(task_id is not None), [*params, limit])
        rows = cursor.fetchall()
    return [
        (occurred_at, action, actor_label, data_field.from_db_value(data, None, connection))
        for occurred_at, action, actor_label, data in rows
    ]


@cache
def _history_sql(one_task: bool) -> str:
    # audit_object_idx (object_type, object_id) finds the events of the item's few tasks.
    one = " AND t.id = %s" if one_task else ""
    return (
        "SELECT e.occurred_at, e.action, e.actor_label, e.data "  # noqa: S608
        f"FROM {quote(AuditEvent._meta.db_table)} e "
        "WHERE e.object_type = %s AND e.action = ANY(%s) AND e.object_id IN ("
        f"SELECT t.id::varchar FROM {quote(ReviewTask._meta.db_table)} t "
        f"WHERE t.item_id = %s{one}) "
        "ORDER BY e.occurred_at DESC, e.id DESC LIMIT %s"
    )
