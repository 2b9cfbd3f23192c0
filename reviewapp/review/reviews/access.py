"""Queues, tasks and items a user may see or act on (through ``reviewapp.core.permissions``).

A user without the permission gets a 404, so nobody can learn that another team's queue, task or
item exists.
"""

from functools import cache

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from reviewapp.core.permissions import (
    MANAGE_QUEUE,
    OPERATE_WORKFLOW,
    REVIEW_QUEUE,
    VIEW_WORKFLOW,
    User,
    objects_for_user,
    user_can,
    user_can_sql,
    users_with_perm,
)
from reviewapp.review.reviews.models import Queue, QueueKind, ReviewTask
from reviewapp.review.reviews.statements import RowReader, hot_cursor
from workflows.models import Item


def queues_for_user(user: User, perm: str = REVIEW_QUEUE) -> QuerySet[Queue]:
    return objects_for_user(user, perm, Queue)


def get_queue_for_user(user: User, queue_id: int, perm: str = REVIEW_QUEUE) -> Queue:
    try:
        queue = Queue.objects.select_related("workflow").get(pk=queue_id)
    except (Queue.DoesNotExist, ValueError, TypeError):
        raise Http404("No such queue.") from None
    if not user_can(user, perm, queue):
        raise Http404("No such queue.")
    return queue


def require_queue_manager(user: User, queue: Queue) -> None:
    """For services a manager calls: refuse (403) anyone who does not manage ``queue``."""
    if not user_can(user, MANAGE_QUEUE, queue):
        raise PermissionDenied("You do not manage this queue.")


# What every task request reads with the task; the review page adds what it renders.
TASK_RELATED = ("queue", "queue__workflow", "item", "item__prediction")
REVIEW_PAGE_RELATED = (*TASK_RELATED, "item__workflow", "item__workflow_version")


def get_task_for_user(
    user: User, task_id: int, perm: str = REVIEW_QUEUE, *, related: tuple[str, ...] = TASK_RELATED
) -> ReviewTask:
    """The task, its ``related`` objects read with it, if ``user`` holds ``perm`` on its queue.

    Every reviewer request starts here: on PostgreSQL the task, its relations and the
    permission are one prepared statement (compiling the querysets cost more CPU than the
    database spent running them)."""
    try:
        pk = int(task_id)
    except (ValueError, TypeError):
        raise Http404("No such task.") from None
    if connection.vendor == "postgresql":
        if not 0 < pk < 2**63:
            raise Http404("No such task.")
        reader = _task_reader(related)
        allowed, params = user_can_sql(user, perm, Queue, "t.queue_id")
        with hot_cursor() as cursor:
            cursor.execute(f"{reader.select} WHERE t.id = %s AND ({allowed})", [pk, *params])
            row = cursor.fetchone()
        if row is None:
            raise Http404("No such task.")
        return reader.read(row)  # type: ignore[return-value]
    try:
        task = ReviewTask.objects.select_related(*related).get(pk=pk)
    except ReviewTask.DoesNotExist:
        raise Http404("No such task.") from None
    if not user_can(user, perm, task.queue):
        raise Http404("No such task.")
    return task


@cache
def _task_reader(related: tuple[str, ...]) -> RowReader:
    return RowReader(ReviewTask, "t", related)


def can_view_item(user: User, item: Item) -> bool:
    """Whoever may see the workflow, or review in a queue that holds the item, may see it.

    A pairwise comparison does not count: the item page shows the serving model's answer, which
    would tell the comparison's reviewer which side is which.
    """
    if user_can(user, VIEW_WORKFLOW, item.workflow):
        return True
    reviewable = queues_for_user(user, REVIEW_QUEUE).exclude(kind=QueueKind.PAIRWISE)
    return item.tasks.filter(queue__in=reviewable).exists()


def get_item_for_user(user: User, item_id: int) -> Item:
    try:
        item = Item.objects.select_related("workflow", "workflow_version").get(pk=item_id)
    except (Item.DoesNotExist, ValueError, TypeError):
        raise Http404("No such item.") from None
    if not can_view_item(user, item):
        raise Http404("No such item.")
    return item


def get_item_to_operate(user: User, item_id: int) -> Item:
    """An item to retry, discard or redeliver: 404 for those who may not see it, 403 for those
    who may see it but not act on the workflow's pipeline."""
    item = get_item_for_user(user, item_id)
    if not user_can(user, OPERATE_WORKFLOW, item.workflow):
        raise PermissionDenied("You may see this item but not act on its pipeline.")
    return item


def queue_reviewers(queue: Queue) -> QuerySet:
    """Active people who may review the queue (directly or through a team role), by name."""
    return users_with_perm(queue, REVIEW_QUEUE)


def queue_managers(queue: Queue) -> QuerySet:
    """Active people who manage the queue (an escalation may notify one of them), by name."""
    return users_with_perm(queue, MANAGE_QUEUE)
