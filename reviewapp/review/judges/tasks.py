from celery import shared_task

from reviewapp.review.judges.agreement import (
    judge_agreement_measure,
    judge_agreements_measure_stale,
)


@shared_task(name="judges.measure_agreement", acks_late=True)
def measure_agreement(workflow_id: int, judge_id: int) -> int:
    return len(judge_agreement_measure(workflow_id=workflow_id, judge_id=judge_id))


@shared_task(name="judges.measure_stale_agreements")
def measure_stale_agreements() -> int:
    return judge_agreements_measure_stale()
