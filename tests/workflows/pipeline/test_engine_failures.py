from datetime import timedelta

import time_machine

from reviewapp.core.audit.models import AuditEvent
from workflows.ingest.services import Submission, items_ingest
from workflows.models import Item, ItemStatus, ModelVersion, StepRun
from workflows.pipeline.engine import item_resume_after_review, item_run_step


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


def _dead_lettered(demo, integrator, settings):
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 1
    ModelVersion.objects.filter(pk=demo.model_version.pk).update(artefact="models/missing.skops")
    item = _one_item(demo, integrator)
    item_run_step(item_id=item.pk, step="validate")
    item_run_step(item_id=item.pk, step="infer")
    item.refresh_from_db()
    assert item.status == ItemStatus.DEAD_LETTERED
    return item


def test_a_retried_dead_letter_runs_its_step_again_with_fresh_attempts(
    demo, integrator, settings, manager, api, django_capture_on_commit_callbacks
):
    item = _dead_lettered(demo, integrator, settings)
    ModelVersion.objects.filter(pk=demo.model_version.pk).update(
        artefact=demo.model_version.artefact
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(manager).post(f"/api/v1/items/{item.pk}/retry")
    assert response.status_code == 200
    assert len(callbacks) == 1  # the failed step is enqueued again after commit
    item.refresh_from_db()
    assert (item.status, item.current_step, item.step_failures) == ("running", "infer", 0)
    assert item_run_step(item_id=item.pk, step="infer").next_step == "postprocess"
    assert AuditEvent.objects.filter(action="item.retried", actor=manager).exists()
    # Retrying twice is a conflict, not a second run.
    assert api(manager).post(f"/api/v1/items/{item.pk}/retry").status_code == 409


def test_a_dead_letter_is_discarded_with_a_reason(demo, integrator, settings, manager, api, client):
    item = _dead_lettered(demo, integrator, settings)
    missing = api(manager).post(f"/api/v1/items/{item.pk}/discard", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["errors"]
    client.force_login(manager)
    assert str(item.pk).encode() in client.get("/dead-letters/").content
    response = client.post(f"/dead-letters/{item.pk}/discard", {"reason": "duplicate test data"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.discarded_at is not None and item.discard_reason == "duplicate test data"
    assert f'href="/items/{item.pk}/"'.encode() not in client.get("/dead-letters/").content
    assert api(manager).post(f"/api/v1/items/{item.pk}/retry").status_code == 409


def test_outsiders_and_reviewers_cannot_act_on_dead_letters(
    demo, integrator, settings, outsider, reviewer, api
):
    item = _dead_lettered(demo, integrator, settings)
    assert api(outsider).post(f"/api/v1/items/{item.pk}/retry").status_code == 404
    assert api(reviewer).post(f"/api/v1/items/{item.pk}/retry").status_code == 404
    item.refresh_from_db()
    assert item.status == ItemStatus.DEAD_LETTERED


def test_the_execution_budget_stops_a_runaway_item(demo, integrator, settings):
    settings.REVIEWAPP_ITEM_MAX_STEP_RUNS = 4
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 10
    ModelVersion.objects.filter(pk=demo.model_version.pk).update(artefact="models/missing.skops")
    item = _one_item(demo, integrator)
    item_run_step(item_id=item.pk, step="validate")
    for _ in range(3):
        assert item_run_step(item_id=item.pk, step="infer").retry_in is not None
    final = item_run_step(item_id=item.pk, step="infer")
    assert final.retry_in is None
    item.refresh_from_db()
    assert item.status == ItemStatus.DEAD_LETTERED
    assert item.dead_letter_reason == "execution budget exhausted: 4 step runs (limit 4)"
    assert StepRun.objects.filter(item=item).count() == 4  # the fifth run never started


def test_the_wall_time_budget_counts_from_arrival(demo, integrator, settings):
    item = _one_item(demo, integrator)
    later = item.created_at + timedelta(seconds=settings.REVIEWAPP_ITEM_MAX_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        item_run_step(item_id=item.pk, step="validate")
    item.refresh_from_db()
    assert item.status == ItemStatus.DEAD_LETTERED
    assert "since arrival" in item.dead_letter_reason
