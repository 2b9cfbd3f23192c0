"""Thin Celery tasks for retraining and canaries: ids in, one service call."""

from celery import shared_task

from reviewapp.learn.training.canary import canaries_running, canary_evaluate
from reviewapp.learn.training.services import (
    RETRAIN_TASK,
    training_run_execute,
    training_runs_resume_stalled,
)


@shared_task(name="workflows.judge_canaries")
def judge_canaries() -> int:
    """Beat sweep: promote or roll back running canaries whose samples are large enough."""
    running = canaries_running()
    for canary_id in running:
        canary_evaluate(canary_id=canary_id)
    return len(running)


@shared_task(name=RETRAIN_TASK)
def retrain(run_id: int) -> None:
    training_run_execute(run_id=run_id)


@shared_task(name="workflows.resume_stalled_training")
def resume_stalled_training() -> dict[str, list]:
    """Beat sweep: training runs whose worker went quiet are enqueued again or failed."""
    return training_runs_resume_stalled()
