"""Comparison tasks a user may review, through the reviews app's own checks (a 404 otherwise)."""

from django.http import Http404

from reviewapp.core.permissions import User
from reviewapp.review.reviews.access import get_task_for_user
from reviewapp.review.reviews.models import QueueKind, ReviewTask


def get_comparison_task_for_user(user: User, task_id: int) -> ReviewTask:
    task = get_task_for_user(user, task_id)
    if task.queue.kind != QueueKind.PAIRWISE:
        raise Http404("No such comparison.")
    return task
