"""Undo of a reviewer's last decision: while the item has not resumed, by its decider only,
audited; and the reasons a decision keeps are those of its own outcome."""

import re

import pytest
from django.test import Client

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from reviewapp.review.reviews.undo import UndoRefused, review_decision_undo
from workflows.demo.tickets import LABELS
from workflows.models import ItemStatus
from workflows.pipeline.engine import item_resume_after_review


@pytest.fixture
def in_review(routed_items):
    items = routed_items(count=12, seed=5)
    assert len(items) >= 3
    return items


def claim(demo, reviewer) -> ReviewTask:
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert task is not None
    return ReviewTask.objects.select_related("item__prediction").get(pk=task.pk)


def correct(task, reviewer) -> Decision:
    label = next(x for x in LABELS if x != task.item.prediction.output["label"])
    return review_task_decide(
        task=task,
        reviewer=reviewer,
        claim_token=task.claim_token,
        outcome="correct",
        output={"label": label},
        reason_codes=["wrong-category"],
    )


def accept(task, reviewer) -> Decision:
    return review_task_decide(
        task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
    )


def test_the_reviewer_takes_back_their_last_decision_and_holds_the_task_again(
    demo, reviewer, in_review
):
    task = claim(demo, reviewer)
    old_token = task.claim_token
    correct(task, reviewer)
    assert Correction.objects.filter(decision__task=task).exists()

    review_decision_undo(task=task, reviewer=reviewer)

    task.refresh_from_db()
    assert task.status == TaskStatus.CLAIMED
    assert task.claimed_by_id == reviewer.pk
    assert task.claim_token is not None and task.claim_token != old_token
    assert task.decided_at is None and task.lease_expires_at is not None
    assert not Decision.objects.filter(task=task).exists()
    assert not Correction.objects.filter(item=task.item).exists()
    event = AuditEvent.objects.get(action="task.decision_undone")
    assert (event.actor_id, event.object_id, event.data["outcome"]) == (
        reviewer.pk,
        str(task.pk),
        "correct",
    )
    # The resume the decision sent finds the review open again and leaves the item alone.
    assert item_resume_after_review(item_id=task.item_id) is False
    task.item.refresh_from_db()
    assert task.item.status == ItemStatus.AWAITING_REVIEW
    # The old claim no longer counts; the new one decides.
    accept(task, reviewer)
    assert Decision.objects.get(task=task).outcome == "accept"


def test_undo_is_refused_once_the_item_has_resumed(demo, reviewer, in_review):
    task = claim(demo, reviewer)
    accept(task, reviewer)
    assert item_resume_after_review(item_id=task.item_id) is True

    with pytest.raises(UndoRefused, match="moved on"):
        review_decision_undo(task=task, reviewer=reviewer)

    task.refresh_from_db()
    assert task.status == TaskStatus.DECIDED
    assert Decision.objects.filter(task=task).exists()
    assert not AuditEvent.objects.filter(action="task.decision_undone").exists()


def test_only_the_decider_and_only_their_last_decision_can_be_undone(
    demo, reviewer, second_reviewer, in_review
):
    first = claim(demo, reviewer)
    accept(first, reviewer)
    second = claim(demo, reviewer)
    accept(second, reviewer)

    with pytest.raises(UndoRefused, match="last decision"):
        review_decision_undo(task=first, reviewer=reviewer)
    with pytest.raises(UndoRefused, match="Only the reviewer who decided"):
        review_decision_undo(task=second, reviewer=second_reviewer)
    held = claim(demo, reviewer)
    with pytest.raises(UndoRefused, match="no decision"):
        review_decision_undo(task=held, reviewer=reviewer)
    assert Decision.objects.filter(task__in=[first, second]).count() == 2


def test_the_page_undoes_and_shows_the_task_again_or_says_why_not(demo, reviewer, in_review):
    client = Client()
    client.force_login(reviewer)
    task = claim(demo, reviewer)
    accept(task, reviewer)

    shown = client.post(f"/review/{task.pk}/undo", HTTP_HX_REQUEST="true")
    assert shown.status_code == 200
    html = shown.content.decode()
    assert 'data-testid="undone"' in html
    task.refresh_from_db()
    assert f'name="claim_token" value="{task.claim_token}"' in html
    assert shown["HX-Push-Url"] == f"/review/{task.pk}/"

    accept(task, reviewer)
    item_resume_after_review(item_id=task.item_id)
    refused = client.post(f"/review/{task.pk}/undo", follow=True)
    assert refused.redirect_chain[-1][0] == "/my-work/"
    assert "can no longer be undone" in refused.content.decode()


def test_submit_and_next_offers_undo_of_the_decision_just_made(demo, reviewer, in_review):
    client = Client()
    client.force_login(reviewer)
    task = claim(demo, reviewer)
    html = client.post(
        f"/review/{task.pk}/decide",
        {"claim_token": str(task.claim_token), "outcome": "accept"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert re.search(rf'<form class="undo" method="post" action="/review/{task.pk}/undo"', html)


# --- reasons follow the outcome -------------------------------------------------------------------


def test_an_accept_never_carries_a_reason_ticked_in_correct_mode(demo, reviewer, in_review):
    client = Client()
    client.force_login(reviewer)
    task = claim(demo, reviewer)
    # What the form sent before the page dropped them: a reason ticked while Correct was chosen.
    response = client.post(
        f"/review/{task.pk}/decide",
        {
            "claim_token": str(task.claim_token),
            "outcome": "accept",
            "reason_codes": ["wrong-category"],
            "reason_codes_reject": ["spam"],
        },
    )
    assert response.status_code == 302
    decision = Decision.objects.get(task=task)
    assert decision.outcome == "accept"
    assert list(decision.reason_codes.all()) == []
    event = AuditEvent.objects.get(action="task.decided", object_id=str(task.pk))
    assert event.data["reason_codes"] == []


def test_the_api_drops_reasons_sent_with_an_accept(api, demo, reviewer, in_review):
    task = claim(demo, reviewer)
    response = api(reviewer).post(
        f"/api/v1/tasks/{task.pk}/decision",
        {"claim_token": str(task.claim_token), "outcome": "accept", "reason_codes": ["spam"]},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    assert list(Decision.objects.get(task=task).reason_codes.all()) == []


def test_a_rejection_keeps_only_its_own_reasons(demo, reviewer, in_review):
    client = Client()
    client.force_login(reviewer)
    task = claim(demo, reviewer)
    client.post(
        f"/review/{task.pk}/decide",
        {
            "claim_token": str(task.claim_token),
            "outcome": "reject",
            "reason_codes": ["wrong-category"],
            "reason_codes_reject": ["spam"],
        },
    )
    decision = Decision.objects.get(task=task)
    assert [code.code for code in decision.reason_codes.all()] == ["spam"]
