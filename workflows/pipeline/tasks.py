"""Thin Celery tasks for the pipeline: ids in, one engine call, nothing else."""

from datetime import timedelta

from celery import shared_task

from workflows import seams
from workflows.pipeline import engine

# An item whose step has not moved for this long has lost its message.
STUCK_AFTER = timedelta(minutes=5)


@shared_task(name=engine.RUN_ITEMS_TASK)
def run_items(item_ids: list[int]) -> None:
    retries = engine.items_run(item_ids=item_ids)
    if retries:
        # Not self.retry(): the items that succeeded are done; only these go round again.
        run_items.apply_async((sorted(retries),), countdown=max(retries.values()))


@shared_task(name=seams.RESUME_TASK)
def resume_after_review(item_id: int) -> None:
    engine.item_resume_after_review(item_id=item_id)


@shared_task(name="workflows.resume_stuck_items")
def resume_stuck_items() -> int:
    """Beat sweep: the database, not the broker, is the source of truth for unfinished work."""
    stuck = engine.items_find_stuck(older_than=STUCK_AFTER)
    engine.enqueue_items([item_id for item_id, _ in stuck])
    unresumed = engine.items_find_unresumed()
    for item_id in unresumed:
        resume_after_review.delay(item_id)
    return len(stuck) + len(unresumed)
