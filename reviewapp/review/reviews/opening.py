"""Opening review tasks: the route step hands items over, each task gets its SLA clock and score."""

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count
from django.utils import timezone

from reviewapp.core import tracing
from reviewapp.core.audit.services import AuditEntry, audit_record_many
from reviewapp.review.reviews import hooks
from reviewapp.review.reviews.events import task_audit_entry
from reviewapp.review.reviews.models import Queue, ReviewTask
from reviewapp.review.reviews.scoring import review_task_claim_score
from reviewapp.review.reviews.subjects import item_predicted_label, item_subject
from reviewapp.review.sla.selectors import sla_clock_for
from workflows.models import Item, WorkflowVersion


def _item_language(item, queue: Queue) -> str:
    if not queue.language_field or not isinstance(item.input, dict):
        return ""
    value = item.input.get(queue.language_field)
    return value.strip().lower()[:35] if isinstance(value, str) else ""


def _item_uncertainty(item) -> float:
    try:
        confidence = item.prediction.confidence
    except ObjectDoesNotExist:  # nothing the model said: as unsure as it gets
        return 1.0
    return min(1.0, max(0.0, 1.0 - float(confidence)))


def _definitions(items) -> dict[int, dict]:
    """Each item's workflow definition, read once for the items whose version is not loaded."""
    loaded = {
        item.workflow_version_id: item.workflow_version.definition
        for item in items
        if Item.workflow_version.is_cached(item)
    }
    missing = {item.workflow_version_id for item in items} - set(loaded)
    if missing:
        loaded |= dict(
            WorkflowVersion.objects.filter(pk__in=missing).values_list("pk", "definition")
        )
    return loaded


def review_task_open(*, item, queue_slug: str, priority: int = 0) -> ReviewTask:
    """Runs inside the route step's transaction: the item and its task appear together."""
    (task,) = review_tasks_open(openings=[(item, queue_slug, priority)])
    return task


def review_tasks_open(*, openings: list[tuple[Any, str, int]]) -> list[ReviewTask]:
    """``review_task_open`` for many ``(item, queue slug, priority)`` at once (the route step
    of a pipeline batch): each queue and its SLA clock are read once, the tasks are inserted
    together and their events appended to the audit chain with one lock."""
    with tracing.items_span(
        "review.tasks_open",
        (item.trace_context for item, _, _ in openings),
        **{"reviewapp.item_ids": [item.pk for item, _, _ in openings]},
    ):
        return _tasks_open(openings)


def _tasks_open(openings: list[tuple[Any, str, int]]) -> list[ReviewTask]:
    now = timezone.now()
    queues = {
        queue.slug: queue
        for queue in Queue.objects.select_related("workflow").filter(
            slug__in={slug for _, slug, _ in openings}
        )
    }
    clocks = {
        slug: sla_clock_for(queue_id=queue.pk, opened_at=now) for slug, queue in queues.items()
    }
    definitions = _definitions([item for item, _, _ in openings])
    tasks = []
    for item, queue_slug, priority in openings:
        queue, clock = queues[queue_slug], clocks[queue_slug]
        task = ReviewTask(
            item=item,
            queue=queue,
            priority=priority,
            due_at=clock.due_at,
            warn_at=clock.warn_at,
            uncertainty=_item_uncertainty(item),
            language=_item_language(item, queue),
            subject=item_subject(item, definitions.get(item.workflow_version_id)),
            predicted_label=item_predicted_label(item),
        )
        task.claim_score = review_task_claim_score(task)
        tasks.append(task)
    ReviewTask.objects.bulk_create(tasks)
    opened: dict[str, list[AuditEntry]] = {}
    for task in tasks:
        opened.setdefault(task.queue.workflow.audit_chain, []).append(
            task_audit_entry(task, "task.opened", priority=task.priority)
        )
    for chain in sorted(opened):
        audit_record_many(opened[chain], chain=chain)
    # A four-eyes item's second task and, at the queue's gold rate, a gold task open beside it.
    hooks.tasks_opened(tasks=tasks)
    # Items that now have more than one task (four-eyes pairs, a senior task): their tasks
    # carry shares_item, so the claim probes "not an item you hold or decided" only for them.
    shared = set(
        ReviewTask.objects.filter(item_id__in={task.item_id for task in tasks})
        .values("item_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("item_id", flat=True)
    )
    if shared:
        ReviewTask.objects.filter(item_id__in=shared, shares_item=False).update(shares_item=True)
        for task in tasks:
            task.shares_item = task.item_id in shared
    return tasks
