"""The counters and histograms of /metrics move as work happens, and only for committed work."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from reviewapp.core.health.models import MetricTotal
from reviewapp.core.metrics import count, observe, series
from reviewapp.operations.demo import demo_items_submit
from reviewapp.operations.tasks import recount_metrics
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.reviews.tasks import release_expired_claims
from tests.conftest import run_pipeline
from tests.support.redis_server import free_port
from workflows.ingest.services import Submission, items_ingest
from workflows.models import Item, ItemOutcome, ItemStatus, ModelVersion
from workflows.pipeline.engine import item_run_step

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_it_counts_ingested_items_per_workflow_and_version(
    demo, integrator, api, scrape, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(integrator).post(
            f"/api/v1/workflows/{demo.workflow.slug}/items",
            {"items": [{"input": {"subject": f"s{i}", "body": "b"}} for i in range(3)]},
            format="json",
        )
    assert response.status_code in (200, 201, 202), response.content

    metrics = scrape()

    labels = {"workflow": demo.workflow.slug, "version": str(demo.workflow.current_version.number)}
    assert metrics.value("reviewapp_items_received_total", **labels) == 3


def test_a_replayed_ingest_is_not_counted_again(demo, scrape, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        demo_items_submit(demo, count=4, seed=3)
    with django_capture_on_commit_callbacks(execute=True):
        demo_items_submit(demo, count=4, seed=3)  # same idempotency keys

    assert scrape().value("reviewapp_items_received_total") == 4


def test_it_counts_what_routing_did_with_each_item(
    demo, scrape, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        demo_items_submit(demo, count=30, seed=5)
        run_pipeline(list(Item.objects.values_list("pk", flat=True)))

    metrics = scrape()

    workflow = demo.workflow.slug
    auto = Item.objects.filter(outcome=ItemOutcome.AUTO_ACCEPTED).count()
    reviewed = Item.objects.filter(status=ItemStatus.AWAITING_REVIEW).count()
    assert auto + reviewed == 30
    assert metrics.value("reviewapp_items_auto_accepted_total", workflow=workflow) == auto
    assert metrics.value("reviewapp_items_sent_to_review_total", workflow=workflow) == reviewed
    assert (
        metrics.value(
            "reviewapp_items_sent_to_review_total", workflow=workflow, queue=demo.queue.slug
        )
        == ReviewTask.objects.filter(queue=demo.queue).count()
    )
    assert metrics.value("reviewapp_model_predictions_total", workflow=workflow) == 30


def test_it_times_the_claim_and_the_decision_and_counts_the_outcome(
    demo, reviewer, routed_items, scrape, django_capture_on_commit_callbacks
):
    demo.queue.review_hourly_cost = 60.0
    demo.queue.save(update_fields=["review_hourly_cost"])
    with time_machine.travel(NOW, tick=False):
        assert routed_items(count=20)  # opens their review tasks at NOW
    with (
        time_machine.travel(NOW + timedelta(minutes=10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    with (
        time_machine.travel(NOW + timedelta(minutes=10, seconds=90), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        review_task_decide(
            task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
        )

    metrics = scrape()

    queue = {"workflow": demo.workflow.slug, "queue": demo.queue.slug}
    assert metrics.value("reviewapp_review_decisions_total", **queue, outcome="accept") == 1
    assert metrics.value("reviewapp_review_decisions_total", **queue, outcome="correct") == 0
    assert metrics.value("reviewapp_review_claim_wait_seconds_sum", **queue) == 600
    assert metrics.value("reviewapp_review_claim_wait_seconds_bucket", **queue, le="300.0") == 0
    assert metrics.value("reviewapp_review_claim_wait_seconds_bucket", **queue, le="600.0") == 1
    assert metrics.value("reviewapp_review_decide_seconds_sum", **queue) == 90
    assert metrics.value("reviewapp_review_decide_seconds_bucket", **queue, le="60.0") == 0
    assert metrics.value("reviewapp_review_decide_seconds_bucket", **queue, le="120.0") == 1
    assert metrics.value("reviewapp_review_decide_seconds_bucket", **queue, le="+Inf") == 1
    assert metrics.value("reviewapp_review_decide_seconds_count", **queue) == 1
    assert metrics.value("reviewapp_review_human_cost_total", **queue) == 1.5  # 90 s at 60/h


@pytest.mark.django_db(transaction=True)
def test_work_that_rolls_back_is_not_counted(scrape):
    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        count(series.CELERY_TASKS, task="t", state="success")
        raise Undone
    with transaction.atomic():
        count(series.CELERY_TASKS, task="t", state="success")
        count(series.CELERY_TASKS, 2, task="t", state="success")
        observe(series.CELERY_TASK_SECONDS, 0.2, task="t")

    metrics = scrape()

    assert metrics.value("reviewapp_celery_tasks_total", task="t", state="success") == 3
    assert metrics.value("reviewapp_celery_task_duration_seconds_count", task="t") == 1


def test_a_count_with_the_wrong_labels_is_a_programming_error():
    with pytest.raises(ValueError, match="takes labels"):
        count(series.ITEMS_RECEIVED, workflow=1)


@pytest.mark.django_db(transaction=True)
def test_it_counts_celery_tasks_by_state_with_their_duration(scrape):
    import reviewapp.celery  # noqa: F401  (connects the signal handlers, as a worker does)

    release_expired_claims.apply()
    recount_metrics.apply()

    metrics = scrape()

    for name in ("reviews.release_expired_claims", "operations.recount_metrics"):
        assert metrics.value("reviewapp_celery_tasks_total", task=name, state="success") == 1
        assert metrics.value("reviewapp_celery_task_duration_seconds_count", task=name) == 1


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_counts_are_kept_in_the_database(settings, scrape):
    settings.REVIEWAPP_METRICS_REDIS_URL = ""  # the embedded quick start
    count(series.CELERY_TASKS, task="t", state="success")
    count(series.CELERY_TASKS, 2, task="t", state="success")
    observe(series.CELERY_TASK_SECONDS, 0.3, task="t")

    metrics = scrape()

    assert MetricTotal.objects.filter(series="reviewapp_celery_tasks").count() == 1
    assert metrics.value("reviewapp_celery_tasks_total", task="t", state="success") == 3
    assert metrics.value("reviewapp_celery_task_duration_seconds_bucket", task="t", le="0.5") == 1
    assert metrics.value("reviewapp_celery_task_duration_seconds_sum", task="t") == 0.3


@pytest.mark.django_db(transaction=True)
def test_a_store_that_is_down_loses_counts_but_never_fails_the_work(settings, scrape, caplog):
    settings.REVIEWAPP_METRICS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nobody there

    count(series.CELERY_TASKS, task="t", state="success")
    metrics = scrape()

    assert "could not record 1 metric counts" in caplog.text
    assert metrics.value("reviewapp_metrics_store_up") == 0
    assert "reviewapp_metrics_recount_timestamp_seconds" in metrics.text


def test_it_counts_dead_letters_by_the_step_that_gave_up(
    demo, integrator, settings, scrape, django_capture_on_commit_callbacks
):
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 1
    ModelVersion.objects.filter(pk=demo.model_version.pk).update(artefact="models/missing.skops")
    with django_capture_on_commit_callbacks(execute=True):
        ((item, _),) = items_ingest(
            workflow=demo.workflow,
            submissions=[Submission(input={"subject": "Refund", "body": "charged twice"})],
            submitted_by=integrator,
        )
    with django_capture_on_commit_callbacks(execute=True):
        item_run_step(item_id=item.pk, step="validate")
    with django_capture_on_commit_callbacks(execute=True):
        item_run_step(item_id=item.pk, step="infer")

    metrics = scrape()

    workflow = demo.workflow.slug
    dead = "reviewapp_items_dead_lettered_total"
    assert Item.objects.get().status == ItemStatus.DEAD_LETTERED
    assert metrics.value(dead, workflow=workflow, step="infer") == 1
    assert metrics.value(dead, step="validate") == 0
    assert metrics.value("reviewapp_model_predictions_total") == 0
