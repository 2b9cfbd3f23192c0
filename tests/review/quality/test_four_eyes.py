"""Four-eyes review through the services: two independent answers, a senior on disagreement."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.corrections.models import Correction
from reviewapp.review.quality.models import FourEyesReview, FourEyesStatus, QueueQuality
from reviewapp.review.quality.selectors import four_eyes_for_task
from reviewapp.review.quality.services import FourEyesNotIndependent
from reviewapp.review.reviews.assignments import TaskActionInvalid, review_task_reassign
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from tests.review.quality.conftest import claim, correct_reason, decide, other_label
from workflows.models import Item, ItemOutcome, ItemStatus, WebhookDelivery
from workflows.pipeline.engine import item_resume_after_review
from workflows.pipeline.reconciler import items_find_unresumed

RESUME = "workflows.resume_after_review"


@pytest.fixture
def item(four_eyes_items):
    items = four_eyes_items(count=1)
    assert len(items) == 1
    return items[0]


def test_routing_opens_two_tasks_in_the_queue_and_records_why(item, demo):
    tasks = list(item.tasks.order_by("pk"))
    assert [(t.queue_id, t.status, t.priority) for t in tasks] == [
        (demo.queue.pk, TaskStatus.OPEN, 3),
        (demo.queue.pk, TaskStatus.OPEN, 3),
    ]
    assert tasks[0].due_at == tasks[1].due_at
    review = FourEyesReview.objects.get(item=item)
    assert (review.first_task, review.second_task, review.status) == (
        tasks[0],
        tasks[1],
        FourEyesStatus.PENDING,
    )
    assert item.routing["action"] == "four_eyes"
    assert item.routing["rule"] == "every-ticket"
    assert AuditEvent.objects.filter(action="task.opened", object_id=str(tasks[1].pk)).exists()


def test_the_two_tasks_go_to_two_different_reviewers(item, demo, reviewer, second_reviewer):
    first = claim(demo.queue, reviewer)
    decide(first, reviewer)

    assert ReviewTask.objects.filter(item=item, status=TaskStatus.OPEN).count() == 1
    # Alice decided one task of this item: the claim never hands her the other one.
    assert claim_or_none(demo.queue, reviewer) is None
    second = claim(demo.queue, second_reviewer)
    assert second.item_id == item.pk and second.pk != first.pk


def claim_or_none(queue, reviewer):
    from reviewapp.review.reviews.claims import review_task_claim

    return review_task_claim(queue=queue, reviewer=reviewer)


def test_two_agreeing_reviewers_complete_the_item_once(
    item, demo, reviewer, second_reviewer, django_capture_on_commit_callbacks, broker
):
    first = claim(demo.queue, reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        decide(first, reviewer)
    assert broker() == [], "one answer is not enough to resume the item"
    assert item_resume_after_review(item_id=item.pk) is False  # a reconciler's stray resume
    assert item.pk not in items_find_unresumed(queue_depth=0)
    assert Item.objects.get(pk=item.pk).status == ItemStatus.AWAITING_REVIEW

    second = claim(demo.queue, second_reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        decide(second, second_reviewer)
    assert broker() == [(RESUME, [item.pk])]

    assert item_resume_after_review(item_id=item.pk) is True
    assert item_resume_after_review(item_id=item.pk) is False
    stored = Item.objects.get(pk=item.pk)
    assert stored.status == ItemStatus.COMPLETED
    assert stored.outcome == ItemOutcome.ACCEPTED
    assert stored.final_output == item.prediction.output
    review = FourEyesReview.objects.get(item=item)
    assert review.status == FourEyesStatus.AGREED
    assert review.settled_at is not None and review.senior_task is None
    assert AuditEvent.objects.filter(action="four_eyes.agreed").count() == 1
    assert AuditEvent.objects.filter(action="item.completed", object_id=str(item.pk)).count() == 1
    assert WebhookDelivery.objects.filter(item=item).count() <= 1  # at most the one completion


def test_agreeing_corrections_become_one_labeled_example(
    item, demo, reviewer, second_reviewer, django_capture_on_commit_callbacks, broker
):
    corrected = {"label": other_label(item.prediction.output["label"])}
    reasons = [correct_reason(demo.workflow)]
    for person in (reviewer, second_reviewer):
        with django_capture_on_commit_callbacks(execute=True):
            decide(
                claim(demo.queue, person),
                person,
                outcome="correct",
                output=corrected,
                reason_codes=reasons,
            )
    assert broker() == [(RESUME, [item.pk])]
    assert Correction.objects.filter(item=item).count() == 1
    assert item_resume_after_review(item_id=item.pk)
    stored = Item.objects.get(pk=item.pk)
    assert (stored.outcome, stored.final_output) == (ItemOutcome.CORRECTED, corrected)


def test_a_disagreement_goes_to_the_senior_queue_whose_decision_is_final(
    item,
    demo,
    reviewer,
    second_reviewer,
    senior,
    senior_queue,
    manager,
    django_capture_on_commit_callbacks,
    broker,
):
    from reviewapp.review.quality.services import queue_quality_set

    queue_quality_set(queue=demo.queue, acting_user=manager, senior_queue=senior_queue)
    model_label = item.prediction.output["label"]
    corrected = {"label": other_label(model_label)}
    reasons = [correct_reason(demo.workflow)]

    with django_capture_on_commit_callbacks(execute=True):
        decide(claim(demo.queue, reviewer), reviewer)
        decide(
            claim(demo.queue, second_reviewer),
            second_reviewer,
            outcome="correct",
            output=corrected,
            reason_codes=reasons,
        )
    assert broker() == []
    assert not Correction.objects.exists()
    review = FourEyesReview.objects.get(item=item)
    assert review.status == FourEyesStatus.DISAGREED and review.settled_at is None
    senior_task = review.senior_task
    assert (senior_task.queue, senior_task.status) == (senior_queue, TaskStatus.OPEN)
    assert item_resume_after_review(item_id=item.pk) is False
    event = AuditEvent.objects.get(action="four_eyes.disagreed")
    assert event.data["senior_task"] == senior_task.pk
    assert len(event.data["answers"]) == 2

    # The senior reviewer sees both answers; the pair never saw each other's.
    for pair_task in review.pair:
        shown = four_eyes_for_task(pair_task)
        assert shown is not None and shown.answers == []
    shown = four_eyes_for_task(senior_task)
    assert shown is not None and shown.role == "senior"
    assert sorted((a.reviewer, a.output["label"]) for a in shown.answers) == sorted(
        [("alice", model_label), ("bob", corrected["label"])]
    )

    claimed = claim(senior_queue, senior)
    assert claimed.pk == senior_task.pk
    with django_capture_on_commit_callbacks(execute=True):
        decide(claimed, senior, outcome="correct", output=corrected, reason_codes=reasons)
    assert broker() == [(RESUME, [item.pk])]
    assert item_resume_after_review(item_id=item.pk)
    stored = Item.objects.get(pk=item.pk)
    assert (stored.outcome, stored.final_output) == (ItemOutcome.CORRECTED, corrected)
    review.refresh_from_db()
    assert review.status == FourEyesStatus.DISAGREED and review.settled_at is not None
    # The settled answer is the labeled example; both disputed answers stay as decisions.
    assert list(Correction.objects.values_list("decision__task", flat=True)) == [senior_task.pk]
    assert Decision.objects.filter(task__item=item).count() == 3
    assert AuditEvent.objects.filter(action="four_eyes.settled").count() == 1


def test_without_a_senior_queue_a_third_reviewer_of_the_same_queue_settles_it(
    item, demo, reviewer, second_reviewer, senior
):
    decide(
        claim(demo.queue, reviewer), reviewer, outcome="reject", reason_codes=reject_reason(demo)
    )
    decide(claim(demo.queue, second_reviewer), second_reviewer)
    senior_task = FourEyesReview.objects.get(item=item).senior_task
    assert senior_task.queue == demo.queue
    assert claim_or_none(demo.queue, reviewer) is None
    assert claim_or_none(demo.queue, second_reviewer) is None
    assert claim(demo.queue, senior).pk == senior_task.pk


def reject_reason(demo):
    from reviewapp.review.corrections.services import reason_codes_for

    return [reason_codes_for(demo.workflow, "reject").order_by("code").first().code]


def held_by(task, reviewer):
    """Hand ``task`` to ``reviewer`` behind the claim's back (an admin edit, an old assignment).

    The claim and the managers' assignment refuse this (a reviewer never gets a second task of
    an item they decided); the decision must refuse it on its own as well.
    """
    ReviewTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.CLAIMED,
        claimed_by=reviewer,
        claim_token=uuid.uuid4(),
        claimed_at=timezone.now(),
        lease_expires_at=timezone.now() + timedelta(hours=1),
    )
    return ReviewTask.objects.get(pk=task.pk)


def test_a_manager_cannot_assign_the_second_task_to_the_first_reviewer(
    item, demo, reviewer, manager
):
    decide(claim(demo.queue, reviewer), reviewer)
    other = ReviewTask.objects.get(item=item, status=TaskStatus.OPEN)
    with pytest.raises(TaskActionInvalid):
        review_task_reassign(task=other, to_reviewer=reviewer, acting_user=manager)


def test_the_same_reviewer_cannot_give_both_answers_even_when_handed_both(item, demo, reviewer):
    first = claim(demo.queue, reviewer)
    decide(first, reviewer)
    other = ReviewTask.objects.get(item=item, status=TaskStatus.OPEN)
    assigned = held_by(other, reviewer)
    events = AuditEvent.objects.count()

    with pytest.raises(FourEyesNotIndependent):
        decide(assigned, reviewer)

    assert not Decision.objects.filter(task=other).exists()
    assert ReviewTask.objects.get(pk=other.pk).status == TaskStatus.CLAIMED
    assert AuditEvent.objects.count() == events
    assert FourEyesReview.objects.get(item=item).status == FourEyesStatus.PENDING


def test_a_pair_reviewer_cannot_settle_their_own_disagreement(
    item, demo, reviewer, second_reviewer
):
    decide(
        claim(demo.queue, reviewer), reviewer, outcome="reject", reason_codes=reject_reason(demo)
    )
    decide(claim(demo.queue, second_reviewer), second_reviewer)
    senior_task = FourEyesReview.objects.get(item=item).senior_task
    assigned = held_by(senior_task, reviewer)

    with pytest.raises(FourEyesNotIndependent):
        decide(assigned, reviewer)
    assert not Decision.objects.filter(task=senior_task).exists()


def test_the_refusal_is_a_409_over_the_api(item, demo, reviewer, api):
    decide(claim(demo.queue, reviewer), reviewer)
    other = ReviewTask.objects.get(item=item, status=TaskStatus.OPEN)
    assigned = held_by(other, reviewer)

    response = api(reviewer).post(
        f"/api/v1/tasks/{assigned.pk}/decision",
        {"claim_token": str(assigned.claim_token), "outcome": "accept"},
        format="json",
    )

    assert response.status_code == 409, response.content
    assert "other answer" in response.json()["detail"]


def test_the_item_page_explains_the_four_eyes_routing(item, client, manager):
    client.force_login(manager)
    response = client.get(f"/items/{item.pk}/")
    assert response.status_code == 200
    assert "four_eyes" in response.content.decode()
    assert "every-ticket" in response.content.decode()


def test_a_senior_queue_must_be_another_queue_of_the_same_workflow(
    demo, manager, other_team, senior_queue
):
    from reviewapp.review.quality.inputs import QualitySettingsInvalid
    from reviewapp.review.quality.services import queue_quality_set

    with pytest.raises(QualitySettingsInvalid) as same:
        queue_quality_set(queue=demo.queue, acting_user=manager, senior_queue=demo.queue)
    assert "senior_queue" in same.value.errors
    with pytest.raises(QualitySettingsInvalid) as foreign:
        queue_quality_set(queue=demo.queue, acting_user=manager, senior_queue=other_team["queue"])
    assert "senior_queue" in foreign.value.errors
    assert not QueueQuality.objects.exists()


def test_the_second_reviewer_cannot_read_the_first_answer_on_the_item(
    item, demo, reviewer, second_reviewer, api, client
):
    decide(
        claim(demo.queue, reviewer),
        reviewer,
        outcome="reject",
        reason_codes=reject_reason(demo),
    )
    claim(demo.queue, second_reviewer)

    detail = api(second_reviewer).get(f"/api/v1/items/{item.pk}")
    assert detail.status_code == 200
    assert detail.json()["decision"] is None
    client.force_login(second_reviewer)
    page = client.get(f"/items/{item.pk}/")
    assert page.status_code == 200
    assert "Reject" not in page.content.decode()


def test_the_review_page_shows_both_answers_to_the_senior_only(
    item, demo, reviewer, second_reviewer, senior, client
):
    decide(
        claim(demo.queue, reviewer),
        reviewer,
        outcome="reject",
        reason_codes=reject_reason(demo),
    )
    second_task = claim(demo.queue, second_reviewer)
    client.force_login(second_reviewer)
    pair_page = client.get(f"/review/{second_task.pk}/").content.decode()
    assert "Two reviewers disagreed" not in pair_page and "alice" not in pair_page
    decide(second_task, second_reviewer)
    review = FourEyesReview.objects.get(item=item)
    Decision.objects.filter(task=review.first_task).update(comment="<b>spam</b>")

    assert claim(demo.queue, senior).pk == review.senior_task_id
    client.force_login(senior)
    senior_page = client.get(f"/review/{review.senior_task_id}/").content.decode()
    assert "Two reviewers disagreed" in senior_page
    assert "alice" in senior_page and "bob" in senior_page
    assert "Reject" in senior_page and "Accept" in senior_page
    assert "&lt;b&gt;spam&lt;/b&gt;" in senior_page and "<b>spam</b>" not in senior_page
