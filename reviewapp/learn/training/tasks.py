"""Thin Celery tasks for retraining and canaries: ids in, one service call."""

from celery import shared_task


@shared_task(name="workflows.judge_canaries")
def judge_canaries() -> int:
    """Beat sweep: promote or roll back running canaries whose samples are large enough."""
    from reviewapp.learn.training.canary import canaries_running, canary_evaluate

    running = canaries_running()
    for canary_id in running:
        canary_evaluate(canary_id=canary_id)
    return len(running)


@shared_task(name="workflows.retrain")
def retrain(run_id: int) -> None:
    from reviewapp.learn.training.services import training_run_execute

    training_run_execute(run_id=run_id)


@shared_task(name="workflows.resume_stalled_training")
def resume_stalled_training() -> dict[str, list]:
    """Beat sweep: training runs whose worker went quiet are enqueued again or failed."""
    from reviewapp.learn.training.services import training_runs_resume_stalled

    return training_runs_resume_stalled()
