"""The accuracy of auto-accepted answers, estimated from the QA sample and checked against a
ground truth counted here; the floor's audited action fires once and changes routing."""

import pytest
from django.core import mail
from django.urls import reverse

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.monitoring.selectors import auto_accept_accuracy, reviewed_calibration
from reviewapp.learn.monitoring.services import accuracy_floor_check, qa_sample_rate_reset
from reviewapp.learn.monitoring.tasks import check_accuracy_floors
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.sla.models import Notification, NotificationKind
from reviewapp.review.sla.notifications import notifications_mail_pending
from workflows.demo.tickets import LABELS
from workflows.models import Item
from workflows.services import workflow_publish

FLOOR = {"rate": 0.5, "accuracy_floor": 0.9, "raised_rate": 0.8, "min_samples": 5}


@pytest.fixture
def with_floor(demo):
    definition = dict(demo.workflow.current_version.definition)
    definition["routing"] = dict(definition["routing"]) | {"qa_sample": FLOOR}
    workflow_publish(
        slug=demo.workflow.slug, name=demo.workflow.name, team=demo.team, definition=definition
    )
    demo.workflow.refresh_from_db()
    return demo.workflow


def decide_all(demo, reviewer, accept_every: int) -> dict:
    """Review every open task: accept one in ``accept_every`` QA-sampled answers, correct the
    rest; other tasks are accepted. Returns what happened to the QA-sampled ones."""
    truth = {"checked": 0, "accepted": 0, "by_label": {}}
    while (task := review_task_claim(queue=demo.queue, reviewer=reviewer)) is not None:
        label = task.item.prediction.output["label"]
        sampled = bool(task.item.routing.get("qa_sample"))
        accept = not sampled or truth["checked"] % accept_every == 0
        if sampled:
            truth["checked"] += 1
            truth["accepted"] += int(accept)
            checked, accepted = truth["by_label"].get(label, (0, 0))
            truth["by_label"][label] = (checked + 1, accepted + int(accept))
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome="accept" if accept else "correct",
            output=None if accept else {"label": next(x for x in LABELS if x != label)},
            reason_codes=[] if accept else ["wrong-category"],
        )
    return truth


def test_the_estimate_counts_the_qa_sample_per_version_and_label(
    with_floor, demo, routed_items, reviewer
):
    routed_items(count=80, seed=21)
    truth = decide_all(demo, reviewer, accept_every=3)
    assert truth["checked"] >= 5, "the demo must route enough confident answers to the sample"

    report = auto_accept_accuracy(with_floor)
    version = with_floor.current_version.number
    total = report.total(version)
    assert (total.successes, total.trials) == (truth["accepted"], truth["checked"])
    per_label = {
        row.label: (row.accuracy.trials, row.accuracy.successes) for row in report.rows if row.label
    }
    assert per_label == truth["by_label"]
    assert total.low <= total.estimate <= total.high

    # Calibration covers every reviewed answer, sampled or not.
    reviewed = Item.objects.filter(tasks__decision__isnull=False).distinct().count()
    assert reviewed_calibration(with_floor).count == reviewed


def test_below_the_floor_the_rate_is_raised_once_audited_and_managers_are_told(
    with_floor, demo, routed_items, reviewer, manager
):
    manager.email = "manager@example.com"
    manager.save()
    routed_items(count=80, seed=21)
    decide_all(demo, reviewer, accept_every=3)  # about a third right: surely below 90 %

    assert check_accuracy_floors() == {"checked": 1, "raised": 1}
    assert check_accuracy_floors() == {"checked": 1, "raised": 0}, "the action fires once"
    with_floor.refresh_from_db()
    assert with_floor.qa_sample_rate_raised == FLOOR["raised_rate"]
    [event] = AuditEvent.objects.filter(action="workflow.qa_sample_raised")
    assert event.data["accuracy_floor"] == 0.9
    assert event.data["interval"][1] < 0.9
    [note] = Notification.objects.filter(kind=NotificationKind.ACCURACY_BELOW_FLOOR)
    assert note.recipient == manager
    assert "floor of 90%" in note.message
    assert notifications_mail_pending() >= 1
    assert any("accuracy floor" in message.subject for message in mail.outbox)

    # New items are sampled at the raised rate.
    before = set(Item.objects.values_list("pk", flat=True))
    routed_items(count=40, seed=22)
    rates = {
        item.routing.get("values", {}).get("qa_sample_rate")
        for item in Item.objects.exclude(pk__in=before)
        if item.routing.get("qa_sample")
    }
    assert rates == {FLOOR["raised_rate"]}

    qa_sample_rate_reset(workflow=with_floor, acting_user=manager)
    with_floor.refresh_from_db()
    assert with_floor.qa_sample_rate_raised is None
    assert AuditEvent.objects.filter(action="workflow.qa_sample_reset").count() == 1


def test_above_the_floor_or_with_too_few_samples_nothing_happens(
    with_floor, demo, routed_items, reviewer
):
    routed_items(count=80, seed=21)
    decide_all(demo, reviewer, accept_every=1)  # every checked answer right
    verdict = accuracy_floor_check(workflow=with_floor)
    assert verdict is not None and not verdict.raised
    assert verdict.accuracy.successes == verdict.accuracy.trials
    with_floor.refresh_from_db()
    assert with_floor.qa_sample_rate_raised is None
    assert not AuditEvent.objects.filter(action="workflow.qa_sample_raised").exists()


def test_the_monitoring_page_shows_the_estimate_and_only_release_rights_reset(
    with_floor, demo, routed_items, reviewer, client, approver, manager
):
    routed_items(count=80, seed=21)
    truth = decide_all(demo, reviewer, accept_every=3)
    check_accuracy_floors()
    url = reverse("monitoring-page", args=[with_floor.slug])

    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="raised"' in html and "below the floor" in html
    assert f'<td class="num">{truth["checked"]}</td>' in html
    assert "Expected calibration error" in html and "<svg" in html
    assert "Back to the policy" not in html, "managers are told; release rights reset"
    assert client.post(url).status_code == 404

    client.force_login(approver)  # an ML engineer of the team
    assert client.post(url).status_code == 302
    with_floor.refresh_from_db()
    assert with_floor.qa_sample_rate_raised is None

    client.force_login(reviewer)
    assert client.get(url).status_code == 404
