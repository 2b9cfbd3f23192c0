from workflows.engine import item_resume_after_review, item_run_step
from workflows.models import Item, ItemStatus, ModelVersion, StepRun
from workflows.services import Submission, items_ingest


def _one_item(demo, integrator):
    ((item, _),) = items_ingest(
        workflow=demo.workflow,
        submissions=[Submission(input={"subject": "Refund", "body": "charged twice"})],
        submitted_by=integrator,
    )
    return item


def test_a_failing_step_is_retried_then_dead_lettered_with_its_reason(demo, integrator, settings):
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 3
    ModelVersion.objects.filter(pk=demo.model_version.pk).update(artefact="models/missing.skops")
    item = _one_item(demo, integrator)
    assert item_run_step(item_id=item.pk, step="validate").next_step == "infer"

    first = item_run_step(item_id=item.pk, step="infer")
    second = item_run_step(item_id=item.pk, step="infer")
    assert first.retry_in is not None and second.retry_in > first.retry_in  # backoff grows
    final = item_run_step(item_id=item.pk, step="infer")

    assert final.retry_in is None
    item.refresh_from_db()
    assert item.status == ItemStatus.DEAD_LETTERED
    assert "infer failed after 3 attempt(s)" in item.dead_letter_reason
    assert "missing" in item.dead_letter_reason
    failed = StepRun.objects.filter(item=item, step="infer", status="failed")
    assert failed.count() == 3
    assert list(failed.values_list("attempt", flat=True)) == [1, 2, 3]


def test_a_duplicate_message_for_a_step_that_ran_does_nothing(demo, integrator):
    item = _one_item(demo, integrator)
    item_run_step(item_id=item.pk, step="validate")
    again = item_run_step(item_id=item.pk, step="validate")
    assert again.next_step is None and again.retry_in is None
    assert StepRun.objects.filter(item=item, step="validate").count() == 1


def test_resume_without_a_decision_leaves_the_item_waiting(demo, integrator):
    item = _one_item(demo, integrator)
    Item.objects.filter(pk=item.pk).update(status=ItemStatus.AWAITING_REVIEW)
    assert item_resume_after_review(item_id=item.pk) is False
    item.refresh_from_db()
    assert item.status == ItemStatus.AWAITING_REVIEW
