"""Drift on generated tickets with a known shift (and none without), the alarm raised once."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.monitoring.drift import drift_check
from reviewapp.learn.monitoring.tasks import check_drift
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.sla.models import Notification, NotificationKind
from tests.conftest import run_pipeline
from workflows.demo.tickets import generate_tickets
from workflows.ingest.services import Submission, items_ingest
from workflows.models import Item

COUNT = 200
NEW_WORDS = [
    "quantum",
    "ledger",
    "reconciliation",
    "firmware",
    "satellite",
    "uplink",
    "warranty",
    "escrow",
]


@pytest.fixture
def reference(demo, settings):
    """Tickets of the demo generator, arrived two days ago."""
    settings.REVIEWAPP_DRIFT_MIN_ITEMS = 100
    demo_items_submit(demo, count=COUNT, seed=1)
    run_pipeline(list(Item.objects.values_list("pk", flat=True)))
    Item.objects.update(created_at=timezone.now() - timedelta(days=2))
    return demo


def arrive(demo, inputs, key):
    result = items_ingest(
        workflow=demo.workflow,
        submissions=[
            Submission(input=value, idempotency_key=f"{key}-{n}") for n, value in enumerate(inputs)
        ],
    )
    run_pipeline([item.pk for item, _ in result])


def shifted(count: int) -> list[dict]:
    """Every customer enterprise, subjects in words never seen, bodies three times as long."""
    tickets = [ticket.as_input() for ticket in generate_tickets(count, seed=2)]
    for n, ticket in enumerate(tickets):
        ticket["customer_tier"] = "enterprise"
        ticket["subject"] = " ".join(NEW_WORDS[(n + k) % len(NEW_WORDS)] for k in range(3))
        ticket["body"] = " ".join([ticket["body"]] * 3)
    return tickets


def by_name(check) -> dict[tuple[str, str], dict]:
    return {(feature["name"], feature["kind"]): feature for feature in check.features}


def test_the_same_kind_of_traffic_does_not_drift(reference):
    arrive(reference, [t.as_input() for t in generate_tickets(COUNT, seed=2)], "same")
    check = drift_check(workflow=reference.workflow)
    assert (check.reference_items, check.current_items) == (COUNT, COUNT)
    drifted = [f for f in check.features if f["drifted"]]
    assert drifted == [], drifted
    assert not check.drifted
    assert not AuditEvent.objects.filter(action="workflow.drift_detected").exists()


def test_shifted_traffic_drifts_where_it_moved_and_the_alarm_fires_once(reference, manager, client):
    arrive(reference, shifted(COUNT), "shifted")
    assert check_drift() == {"checked": 1, "drifted": 1}
    check = reference.workflow.drift_checks.get()
    features = by_name(check)
    assert features[("customer_tier", "category")]["drifted"]
    assert features[("subject", "new words")]["value"] == pytest.approx(1.0)
    assert features[("body", "text length")]["drifted"]
    assert not features[("body", "new words")]["drifted"], "the body's words are the same"

    check_drift()  # still drifted: no second alarm
    assert reference.workflow.drift_checks.count() == 2
    [event] = AuditEvent.objects.filter(action="workflow.drift_detected")
    names = {feature["name"] for feature in event.data["features"]}
    assert {"customer_tier", "subject", "body"} <= names
    [note] = Notification.objects.filter(kind=NotificationKind.DRIFT_DETECTED)
    assert note.recipient == manager and "customer_tier" in note.message

    client.force_login(manager)
    html = client.get(reverse("monitoring-page", args=[reference.workflow.slug])).content.decode()
    assert 'data-testid="drifted"' in html
    assert "customer_tier" in html and "new words (share)" in html
    assert "Drift of the recent window, check by check" in html


def test_too_few_items_compare_nothing_and_the_page_says_so(demo, client, manager, settings):
    settings.REVIEWAPP_DRIFT_MIN_ITEMS = 100
    arrive(demo, [t.as_input() for t in generate_tickets(10, seed=1)], "old")
    Item.objects.update(created_at=timezone.now() - timedelta(days=2))
    arrive(demo, shifted(10), "few")
    check = drift_check(workflow=demo.workflow)
    assert (check.reference_items, check.current_items) == (10, 10)
    assert check.features == [] and not check.drifted
    client.force_login(manager)
    page = client.get(reverse("monitoring-page", args=[demo.workflow.slug]))
    assert "No check has compared two windows yet" in page.content.decode()
