"""Gold items: added by managers, mixed into the queue at its rate, scored, kept out of the rest."""

import hashlib

import pytest

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.corrections.models import Correction
from reviewapp.review.quality.models import GoldItem, GoldTask, QueueQuality
from reviewapp.review.quality.services import gold_item_add, queue_quality_set
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from tests.review.quality.conftest import claim, correct_reason, decide
from workflows.models import Item, ItemStatus, WebhookDelivery
from workflows.pipeline.reconciler import items_find_unresumed
from workflows.pipeline.simulator import policy_simulate

TICKET = {"subject": "Refund not received", "body": "I was charged twice.", "customer_tier": "pro"}


def gold_url(queue):
    return f"/api/v1/queues/{queue.pk}/gold-items"


def settings_url(queue):
    return f"/api/v1/queues/{queue.pk}/quality-settings"


def drawn(task_id: int) -> float:
    """The documented mix-in rule, worked out independently: sha256("gold:<task id>")."""
    digest = hashlib.sha256(f"gold:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@pytest.fixture
def gold_queue(demo, manager):
    """The demo queue with every real task followed by a gold one, and two gold items."""
    queue_quality_set(queue=demo.queue, acting_user=manager, gold_rate=1.0)
    right = gold_item_add(
        queue=demo.queue,
        acting_user=manager,
        input=TICKET,
        expected_output={"label": "billing"},
    )
    wrong = gold_item_add(
        queue=demo.queue,
        acting_user=manager,
        input=TICKET | {"subject": "App crashes on start"},
        expected_output={"label": "technical"},
        proposed_output={"label": "billing"},
    )
    return {"queue": demo.queue, "right": right, "wrong": wrong}


# --- adding gold items and the rate ---------------------------------------------------------------


def test_a_manager_adds_a_gold_item_over_the_api(api, manager, demo):
    response = api(manager).post(
        gold_url(demo.queue),
        {"input": TICKET, "expected_output": {"label": "shipping"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    gold = GoldItem.objects.get()
    assert response.json()["id"] == gold.pk
    assert (gold.queue, gold.input, gold.expected_output) == (
        demo.queue,
        TICKET,
        {"label": "shipping"},
    )
    assert gold.proposed_output == {"label": "shipping"}  # shown as the model's: the right one
    assert AuditEvent.objects.filter(action="gold_item.added").count() == 1
    listed = api(manager).get(gold_url(demo.queue)).json()["gold_items"]
    assert [(g["id"], g["shown"]) for g in listed] == [(gold.pk, 0)]


def test_a_gold_item_that_does_not_fit_the_schemas_gets_field_errors(api, manager, demo):
    response = api(manager).post(
        gold_url(demo.queue),
        {
            "input": {"body": "no subject", "customer_tier": "platinum"},
            "expected_output": {"label": "weather"},
            "proposed_output": "billing",
        },
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {
        "input.subject",
        "input.customer_tier",
        "expected_output.label",
        "proposed_output",
    }
    assert not GoldItem.objects.exists()
    assert not AuditEvent.objects.filter(action="gold_item.added").exists()


def test_the_gold_rate_must_be_a_share(api, manager, demo):
    for bad in (1.5, -0.1):
        response = api(manager).patch(settings_url(demo.queue), {"gold_rate": bad}, format="json")
        assert response.status_code == 400
        assert "gold_rate" in response.json()["errors"]
    assert not QueueQuality.objects.exists()

    response = api(manager).patch(settings_url(demo.queue), {"gold_rate": 0.1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"queue": demo.queue.pk, "gold_rate": 0.1, "senior_queue": None}
    assert AuditEvent.objects.filter(action="queue.quality_set").count() == 1


def test_only_managers_of_the_queue_see_or_change_its_gold(api, demo, reviewer, outsider):
    for person in (reviewer, outsider):
        client = api(person)
        assert client.get(gold_url(demo.queue)).status_code == 404
        assert (
            client.post(
                gold_url(demo.queue), {"input": TICKET, "expected_output": {}}, format="json"
            ).status_code
            == 404
        )
        assert client.get(settings_url(demo.queue)).status_code == 404
        assert (
            client.patch(settings_url(demo.queue), {"gold_rate": 1}, format="json").status_code
            == 404
        )
    assert not GoldItem.objects.exists() and not QueueQuality.objects.exists()


def test_a_senior_queue_is_set_only_among_queues_the_manager_manages(
    api, manager, demo, other_team, senior_queue
):
    refused = api(manager).patch(
        settings_url(demo.queue), {"senior_queue": other_team["queue"].pk}, format="json"
    )
    assert refused.status_code == 400
    assert "senior_queue" in refused.json()["errors"]
    accepted = api(manager).patch(
        settings_url(demo.queue), {"senior_queue": senior_queue.pk}, format="json"
    )
    assert accepted.status_code == 200, accepted.content
    assert QueueQuality.objects.get(queue=demo.queue).senior_queue == senior_queue


# --- mixing in ----------------------------------------------------------------------------------


def test_gold_tasks_are_mixed_in_at_the_rate_and_look_like_real_ones(
    demo, manager, gold_queue, routed_items
):
    queue_quality_set(queue=demo.queue, acting_user=manager, gold_rate=0.5)
    routed_items(count=40, seed=11)

    showings = {s.mixed_in_after_id: s for s in GoldTask.objects.select_related("task", "item")}
    real = ReviewTask.objects.filter(gold__isnull=True).order_by("pk")
    expected = {task.pk for task in real if drawn(task.pk) < 0.5}
    assert real.count() >= 6
    assert set(showings) == expected
    assert 0 < len(expected) < real.count()
    for real_task in real.filter(pk__in=expected):
        gold = showings[real_task.pk]
        task, item = gold.task, gold.item
        assert (task.queue_id, task.status, task.priority, task.due_at) == (
            real_task.queue_id,
            TaskStatus.OPEN,
            real_task.priority,
            real_task.due_at,
        )
        assert item.status == ItemStatus.AWAITING_REVIEW
        assert item.workflow_version_id == real_task.item.workflow_version_id
        assert item.routing == real_task.item.routing
        assert item.input == gold.gold_item.input
        assert item.prediction.output == gold.gold_item.proposed_output
        assert item.prediction.confidence == real_task.item.prediction.confidence


def test_no_gold_is_mixed_in_without_a_rate_or_without_gold_items(demo, manager, routed_items):
    gold_item_add(
        queue=demo.queue, acting_user=manager, input=TICKET, expected_output={"label": "billing"}
    )
    routed_items(count=10, seed=11)
    assert not GoldTask.objects.exists()


# --- scoring --------------------------------------------------------------------------------------


def gold_task_for(person, queue):
    """Claim until the person holds a gold task; real ones are accepted on the way."""
    while True:
        task = claim(queue, person)
        if GoldTask.objects.filter(task=task).exists():
            return task
        decide(task, person)


def test_a_gold_decision_is_scored_and_goes_nowhere_else(
    demo, reviewer, gold_queue, routed_items, django_capture_on_commit_callbacks, broker
):
    routed_items(count=10, seed=11)
    broker()  # what routing enqueued is not under test here
    task = gold_task_for(reviewer, demo.queue)
    showing = GoldTask.objects.get(task=task)
    expected = showing.gold_item.expected_output
    proposed = showing.gold_item.proposed_output

    with django_capture_on_commit_callbacks(execute=True):
        if proposed == expected:
            decide(task, reviewer)  # accepts the right answer
        else:
            decide(
                task,
                reviewer,
                outcome="correct",
                output=expected,
                reason_codes=[correct_reason(demo.workflow)],
            )

    assert broker() == [], "a gold decision never resumes a pipeline"
    showing.refresh_from_db()
    assert showing.correct is True and showing.scored_at is not None
    item = Item.objects.get(pk=showing.item_id)
    assert item.status == ItemStatus.COMPLETED and item.outcome == ""
    assert item.pk not in items_find_unresumed(queue_depth=0)
    assert not Correction.objects.filter(item=item).exists()
    assert not WebhookDelivery.objects.filter(item=item).exists()
    assert not AuditEvent.objects.filter(action="item.completed", object_id=str(item.pk)).exists()
    assert AuditEvent.objects.get(action="gold.scored").data["correct"] is True
    simulated = policy_simulate(workflow=demo.workflow, policy={"threshold": 0.8}, last=1000)
    assert (
        simulated.total.items
        == Item.objects.filter(status=ItemStatus.COMPLETED, gold__isnull=True).count()
    )


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("accept", False), ("reject", False), ("correct-to-expected", True)],
)
def test_a_gold_answer_is_right_only_when_it_ends_with_the_known_output(
    demo, manager, reviewer, routed_items, answer, correct
):
    queue_quality_set(queue=demo.queue, acting_user=manager, gold_rate=1.0)
    gold = gold_item_add(
        queue=demo.queue,
        acting_user=manager,
        input=TICKET,
        expected_output={"label": "technical"},
        proposed_output={"label": "billing"},
    )
    routed_items(count=10, seed=11)
    task = gold_task_for(reviewer, demo.queue)
    if answer == "accept":
        decide(task, reviewer)
    elif answer == "reject":
        from reviewapp.review.corrections.services import reason_codes_for

        code = reason_codes_for(demo.workflow, "reject").order_by("code").first().code
        decide(task, reviewer, outcome="reject", reason_codes=[code])
    else:
        decide(
            task,
            reviewer,
            outcome="correct",
            output=gold.expected_output,
            reason_codes=[correct_reason(demo.workflow)],
        )
    assert GoldTask.objects.get(task=task).correct is correct


def test_a_retired_gold_item_is_no_longer_mixed_in(api, demo, manager, gold_queue, routed_items):
    client = api(manager)
    for gold in (gold_queue["right"], gold_queue["wrong"]):
        response = client.post(f"{gold_url(demo.queue)}/{gold.pk}/retire")
        assert response.status_code == 200, response.content
        assert response.json()["active"] is False
    again = client.post(f"{gold_url(demo.queue)}/{gold_queue['right'].pk}/retire")
    assert again.status_code == 409

    routed_items(count=10, seed=11)

    assert ReviewTask.objects.exists()
    assert not GoldTask.objects.exists()
    assert AuditEvent.objects.filter(action="gold_item.retired").count() == 2


def test_outsiders_cannot_retire_a_gold_item(api, outsider, gold_queue):
    gold = gold_queue["right"]
    response = api(outsider).post(f"{gold_url(gold.queue)}/{gold.pk}/retire")
    assert response.status_code == 404
    gold.refresh_from_db()
    assert gold.active


def test_gold_items_are_not_counted_as_model_traffic_by_canaries(demo, gold_queue, routed_items):
    from datetime import timedelta

    from django.utils import timezone

    from reviewapp.learn.training.canary import arm_metrics
    from workflows.models import Canary, Prediction

    routed_items(count=10, seed=11)
    assert GoldTask.objects.exists()
    canary = Canary(workflow=demo.workflow, started_at=timezone.now() - timedelta(days=1))

    metrics = arm_metrics(canary, demo.model_version)

    assert metrics.items == Prediction.objects.filter(item__gold__isnull=True).count()
    assert metrics.items < Prediction.objects.count()


def test_the_board_counts_gold_work_but_not_as_model_overrides(
    demo, reviewer, gold_queue, routed_items, broker
):
    from reviewapp.review.sla.board import queue_boards

    routed_items(count=10, seed=11)
    broker()
    gold = claim(demo.queue, reviewer)
    while not GoldTask.objects.filter(task=gold).exists():
        decide(gold, reviewer)  # real tasks accepted: no override
        gold = claim(demo.queue, reviewer)
    expected = GoldTask.objects.get(task=gold).gold_item.expected_output
    decide(
        gold,
        reviewer,
        outcome="correct",
        output={"label": "shipping" if expected["label"] != "shipping" else "billing"},
        reason_codes=[correct_reason(demo.workflow)],
    )
    decided = ReviewTask.objects.filter(queue=demo.queue, status=TaskStatus.DECIDED)
    real = decided.filter(gold__isnull=True).count()
    assert real >= 1 and decided.filter(gold__isnull=False).count() == 1

    (board,) = queue_boards([demo.queue])
    assert board.decided_last_day == real + 1  # gold work is throughput
    assert board.override_rate == 0.0  # a wrong answer on gold is not a model override
