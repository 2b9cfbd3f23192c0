from celery import shared_task

from reviewapp.review.pairwise.services import OPEN_TASK, comparisons_open


@shared_task(name=OPEN_TASK)
def open_comparisons() -> int:
    return comparisons_open()
