"""Thin Celery tasks: ids in, one engine call, nothing else."""

from datetime import timedelta

from celery import shared_task

from workflows import engine

# An item whose step has not moved for this long has lost its message.
STUCK_AFTER = timedelta(minutes=5)


@shared_task(name="workflows.run_items")
def run_items(item_ids: list[int]) -> None:
    retries = engine.items_run(item_ids=item_ids)
    if retries:
        # Not self.retry(): the items that succeeded are done; only these go round again.
        run_items.apply_async((sorted(retries),), countdown=max(retries.values()))


@shared_task(name="workflows.resume_after_review")
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


@shared_task(name="workflows.deliver_webhook")
def deliver_webhook(delivery_id: int) -> None:
    from workflows.act.webhooks import webhook_deliver

    webhook_deliver(delivery_id=delivery_id)


@shared_task(name="workflows.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    """Beat sweep: retries whose time has come, and deliveries whose message was lost."""
    from workflows.act.webhooks import webhooks_due

    due = webhooks_due()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)


@shared_task(name="workflows.judge_canaries")
def judge_canaries() -> int:
    """Beat sweep: promote or roll back running canaries whose samples are large enough."""
    from workflows.canary import canaries_running, canary_evaluate

    running = canaries_running()
    for canary_id in running:
        canary_evaluate(canary_id=canary_id)
    return len(running)


@shared_task(name="workflows.retrain")
def retrain(run_id: int) -> None:
    from workflows.training import training_run_execute

    training_run_execute(run_id=run_id)


@shared_task(name="workflows.resume_stalled_training")
def resume_stalled_training() -> dict[str, list]:
    """Beat sweep: training runs whose worker went quiet are enqueued again or failed."""
    from workflows.training import training_runs_resume_stalled

    return training_runs_resume_stalled()
