"""The claim score: SLA urgency, priority and model uncertainty, weighted per queue."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.inputs import QueueSettingsInvalid
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_claim_settings_set
from reviewapp.review.sla.clock import review_task_pause
from reviewapp.review.sla.configuration import sla_policy_set
from reviewapp.review.sla.sweep import sla_sweep
from workflows.models import Item, Prediction

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def items(demo):
    demo_items_submit(demo, count=4, seed=2)
    return list(Item.objects.order_by("pk"))


def predict(item, demo, confidence):
    Prediction.objects.create(
        item=item,
        model_version=demo.model_version,
        output={"label": "billing"},
        confidence=confidence,
        probabilities={"billing": confidence},
        latency_ms=1.0,
    )


def open_task(item, demo, *, priority=0):
    return review_task_open(item=item, queue_slug=demo.queue.slug, priority=priority)


def test_a_task_stores_its_uncertainty_and_score_when_it_opens(items, demo):
    predict(items[0], demo, 0.8)

    task = open_task(items[0], demo, priority=3)

    # Default weights: urgency 10, priority 1, uncertainty 1; on time, so no urgency.
    assert task.uncertainty == pytest.approx(0.2)
    assert task.claim_score == pytest.approx(3 + 0.2)
    assert ReviewTask.objects.get(pk=task.pk).claim_score == pytest.approx(3.2)


def test_the_more_uncertain_item_comes_first_at_equal_priority(items, demo, reviewer):
    predict(items[0], demo, 0.95)
    predict(items[1], demo, 0.40)
    open_task(items[0], demo)
    unsure = open_task(items[1], demo)

    assert review_task_claim(queue=demo.queue, reviewer=reviewer).pk == unsure.pk


def test_a_breached_task_outranks_higher_priorities_and_pausing_drops_its_urgency(
    items, demo, reviewer, second_reviewer, manager
):
    for item in items[:3]:
        predict(item, demo, 0.9)
    sla_policy_set(queue=demo.queue, target_minutes=60, warn_at_percent=50)
    with time_machine.travel(NOW, tick=False):
        late = open_task(items[0], demo, priority=0)
    with time_machine.travel(NOW + timedelta(minutes=50), tick=False):
        pressing = open_task(items[1], demo, priority=5)
        paused = open_task(items[2], demo, priority=0)
    with time_machine.travel(NOW + timedelta(minutes=61), tick=False):
        sla_sweep()
    late.refresh_from_db()
    assert late.breached_at is not None
    assert late.claim_score == pytest.approx(10 * 1.0 + 0 + 0.1)

    with time_machine.travel(NOW + timedelta(minutes=90), tick=False):
        sla_sweep()  # `paused` is at risk now: urgency 0.5 -> 5 + 0.1
        paused.refresh_from_db()
        assert paused.claim_score == pytest.approx(5.1)
        review_task_pause(task=paused, acting_user=manager, reason="waiting for the customer")
        paused.refresh_from_db()
        assert paused.claim_score == pytest.approx(0.1)

        assert review_task_claim(queue=demo.queue, reviewer=reviewer).pk == late.pk
        assert review_task_claim(queue=demo.queue, reviewer=second_reviewer).pk == pressing.pk


def test_managers_change_the_weights_and_open_tasks_are_rescored(items, demo, manager, api):
    predict(items[0], demo, 0.1)
    predict(items[1], demo, 0.9)
    unsure = open_task(items[0], demo, priority=0)
    urgent = open_task(items[1], demo, priority=2)

    response = api(manager).patch(
        f"/api/v1/queues/{demo.queue.pk}/settings",
        {"uncertainty_weight": 10, "priority_weight": 0.5},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["uncertainty_weight"] == 10
    unsure.refresh_from_db()
    urgent.refresh_from_db()
    assert unsure.claim_score == pytest.approx(10 * 0.9)
    assert urgent.claim_score == pytest.approx(0.5 * 2 + 10 * 0.1)
    event = AuditEvent.objects.get(action="queue.settings_changed")
    assert event.data["after"] == {"uncertainty_weight": 10, "priority_weight": 0.5}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"urgency_weight": -1}, "urgency_weight"),
        ({"priority_weight": "heavy"}, "priority_weight"),
        ({"uncertainty_weight": 1e9}, "uncertainty_weight"),
        ({"required_skills": "legal"}, "required_skills"),
        ({"required_skills": ["Legal Stuff!"]}, "required_skills"),
        ({"language_field": "tongue"}, "language_field"),
        ({"max_claims_per_reviewer": 0}, "max_claims_per_reviewer"),
        ({"notify_webhook_url": "ftp://example.com/"}, "notify_webhook_url"),
        ({"notify_webhook_url": "https://example.com/hook"}, "notify_webhook_secret_env"),
        ({"colour": "red"}, "colour"),
        ({"acting_user": 1}, "acting_user"),
    ],
)
def test_nonsense_settings_are_refused_with_a_field_error(demo, manager, api, changes, field):
    before = {name: getattr(demo.queue, name) for name in ("urgency_weight", "required_skills")}

    response = api(manager).patch(
        f"/api/v1/queues/{demo.queue.pk}/settings", changes, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["errors"]
    demo.queue.refresh_from_db()
    assert {name: getattr(demo.queue, name) for name in before} == before


def test_only_managers_change_queue_settings(demo, reviewer, outsider, manager, api):
    assert (
        api(reviewer).patch(f"/api/v1/queues/{demo.queue.pk}/settings", {}, format="json")
    ).status_code == 404
    assert (api(outsider).get(f"/api/v1/queues/{demo.queue.pk}/settings")).status_code == 404
    with pytest.raises(QueueSettingsInvalid):
        queue_claim_settings_set(
            queue=demo.queue, acting_user=manager, changes={"urgency_weight": float("nan")}
        )
