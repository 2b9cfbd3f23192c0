"""Thin Celery tasks for the pipeline: ids in, one engine call, nothing else."""

from celery import shared_task

from workflows import seams
from workflows.pipeline import engine
from workflows.pipeline.reconciler import lost_work


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
def resume_stuck_items() -> dict[str, int]:
    """Beat sweep: the database, not the broker, is the source of truth for unfinished work."""
    lost, unresumed = lost_work()
    engine.enqueue_items(lost)
    for item_id in unresumed:
        resume_after_review.delay(item_id)
    return {"sent_again": len(lost), "resumed": len(unresumed)}
