"""A reviewer's decision on a judged item, turned into checks of the judge.

The human verdict on a rubric item: an accept passes it, a reject fails it; a correction fails
it, unless the rubric item is about one output field (``field``) that the correction left as the
model had it. The first decision on an item counts (a four-eyes item's second answer does not).
"""

from django.db.models import F

from reviewapp.core.jobs import job_send_on_commit
from reviewapp.review.reviews.hooks import DecisionEffects
from reviewapp.review.reviews.models import DecisionOutcome
from workflows.judges.models import JudgeAgreement, JudgeCheck, JudgeScore

MEASURE_TASK = "judges.measure_agreement"


def human_passed(entry: dict, *, outcome: str, model_output: dict, human_output: dict) -> bool:
    if outcome == DecisionOutcome.ACCEPT:
        return True
    if outcome == DecisionOutcome.CORRECT and "field" in entry:
        return human_output.get(entry["field"]) == model_output.get(entry["field"])
    return False


def judge_task_decided(*, task, decision) -> DecisionEffects:
    """Review hook, in the decision's transaction. Items nobody judged cost no query."""
    judged = (task.item.routing or {}).get("judge")
    if not judged:
        return DecisionEffects()
    item = task.item
    if JudgeCheck.objects.filter(item_id=item.pk).exists():
        return DecisionEffects()  # the item's first settled answer was counted already
    judge = item.workflow_version.definition.get("judge")
    scores = {
        score.rubric: score
        for score in JudgeScore.objects.filter(item_id=item.pk, judge_id=judged["id"])
    }
    if judge is None or not scores:
        return DecisionEffects()
    model_output = item.prediction.output
    checks = [
        JudgeCheck(
            item_id=item.pk,
            workflow_id=item.workflow_id,
            judge_id=judged["id"],
            rubric=entry["name"],
            judge_passed=scores[entry["name"]].passed,
            human_passed=human_passed(
                entry,
                outcome=decision.outcome,
                model_output=model_output,
                human_output=decision.output if isinstance(decision.output, dict) else {},
            ),
            decided_at=decision.decided_at,
        )
        for entry in judge["rubric"]
        if entry["name"] in scores
    ]
    if not checks:
        return DecisionEffects()
    JudgeCheck.objects.bulk_create(checks, ignore_conflicts=True)
    # One row per rubric item, marked for the job that recomputes it.
    JudgeAgreement.objects.bulk_create(
        [
            JudgeAgreement(workflow_id=item.workflow_id, judge_id=judged["id"], rubric=check.rubric)
            for check in checks
        ],
        ignore_conflicts=True,
    )
    JudgeAgreement.objects.filter(
        workflow_id=item.workflow_id,
        judge_id=judged["id"],
        rubric__in=[check.rubric for check in checks],
    ).update(stale=True, marks=F("marks") + 1)
    job_send_on_commit(MEASURE_TASK, item.workflow_id, judged["id"])
    return DecisionEffects()
