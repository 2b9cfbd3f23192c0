"""Claiming and deciding through the API: /api/v1/queues/<id>/claim, /api/v1/tasks/<id>/..."""

import pytest

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from tests.conftest import work_callbacks
from workflows.demo.tickets import LABELS
from workflows.models import Item, ItemOutcome, ItemStatus
from workflows.pipeline.engine import item_resume_after_review


@pytest.fixture
def in_review(routed_items):
    items = routed_items(count=10, seed=5)
    assert len(items) >= 3, "the demo data must send at least three tickets to review"
    return items


@pytest.fixture
def claimed(api, reviewer, demo, in_review):
    """Alice's claim through the API: the task summary she was handed."""
    response = api(reviewer).post(f"/api/v1/queues/{demo.queue.pk}/claim")
    assert response.status_code == 200, response.content
    return response.json()


def decide(client, task, **body):
    payload = {"claim_token": task["claim_token"]} | body
    return client.post(f"/api/v1/tasks/{task['id']}/decision", payload, format="json")


def another_label(label):
    return next(other for other in LABELS if other != label)


@pytest.fixture
def nothing_written():
    """Asserts that a refused decision left no decision, correction or audit event behind."""
    events_before = AuditEvent.objects.count()

    def check(task):
        assert not Decision.objects.exists()
        assert not Correction.objects.exists()
        assert AuditEvent.objects.count() == events_before
        stored = ReviewTask.objects.get(pk=task["id"])
        assert stored.status == TaskStatus.CLAIMED
        assert str(stored.claim_token) == task["claim_token"]

    return check


# --- claiming ---------------------------------------------------------------------------------


def test_it_claims_the_next_task_with_its_token_input_and_prediction(claimed, reviewer, in_review):
    task = ReviewTask.objects.get(pk=claimed["id"])
    assert task.status == TaskStatus.CLAIMED
    assert task.claimed_by == reviewer
    assert claimed["claim_token"] == str(task.claim_token)
    assert claimed["lease_expires_at"]
    assert claimed["item"]["input"] == task.item.input
    assert claimed["prediction"]["output"] == task.item.prediction.output
    assert claimed["routing"]["action"] == "review"


def test_it_answers_204_when_the_queue_is_empty(api, demo, reviewer, in_review):
    ReviewTask.objects.update(status=TaskStatus.CANCELLED)

    response = api(reviewer).post(f"/api/v1/queues/{demo.queue.pk}/claim")

    assert response.status_code == 204
    assert response.content == b""


def test_it_shows_the_claim_token_only_to_its_holder(api, claimed, second_reviewer):
    response = api(second_reviewer).get(f"/api/v1/tasks/{claimed['id']}")

    assert response.status_code == 200
    assert response.json()["status"] == TaskStatus.CLAIMED
    assert response.json()["claim_token"] is None


def test_it_lists_the_queue_with_its_counts(
    api, reviewer, second_reviewer, claimed, in_review, demo
):
    response = api(second_reviewer).get("/api/v1/queues/")

    assert response.status_code == 200
    assert response.json()["queues"] == [
        {
            "id": demo.queue.pk,
            "slug": demo.queue.slug,
            "name": demo.queue.name,
            "workflow": demo.workflow.slug,
            "open": len(in_review) - 1,
            "claimed": 1,
            "mine": 0,
        }
    ]
    assert api(reviewer).get("/api/v1/queues/").json()["queues"][0]["mine"] == 1


# --- deciding ---------------------------------------------------------------------------------


def test_it_accepts_and_the_item_ends_with_the_model_output(
    api, reviewer, claimed, django_capture_on_commit_callbacks, broker
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = decide(api(reviewer), claimed, outcome="accept")

    assert response.status_code == 201, response.content
    assert response.json()["outcome"] == "accept"
    assert len(work_callbacks(callbacks)) == 1
    item_id = claimed["item"]["id"]
    assert broker() == [("workflows.resume_after_review", [item_id])]
    # The model was right: a human-verified label, the model's answer with an empty diff.
    verified = Correction.objects.get()
    assert (verified.human_output, verified.diff) == (verified.model_output, {})

    assert item_resume_after_review(item_id=item_id)  # what the worker does with that message

    item = Item.objects.get(pk=item_id)
    assert item.status == ItemStatus.COMPLETED
    assert item.outcome == ItemOutcome.ACCEPTED
    assert item.final_output == claimed["prediction"]["output"]
    assert ReviewTask.objects.get(pk=claimed["id"]).status == TaskStatus.DECIDED
    assert not item_resume_after_review(item_id=item_id), "resuming twice must do nothing"


def test_it_records_a_correction_as_a_labeled_example(
    api, reviewer, claimed, demo, django_capture_on_commit_callbacks
):
    model_label = claimed["prediction"]["output"]["label"]
    human_label = another_label(model_label)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = decide(
            api(reviewer),
            claimed,
            outcome="correct",
            output={"label": human_label},
            reason_codes=["wrong-category"],
            comment="It is about a parcel.",
        )

    assert response.status_code == 201, response.content
    assert len(work_callbacks(callbacks)) == 1
    item_id = claimed["item"]["id"]
    correction = Correction.objects.get()
    assert correction.item_id == item_id
    assert correction.workflow == demo.workflow
    assert correction.input == claimed["item"]["input"]
    assert correction.model_output == {"label": model_label}
    assert correction.human_output == {"label": human_label}
    assert correction.diff == {"label": {"before": model_label, "after": human_label}}
    assert correction.reason_codes == ["wrong-category"]
    assert correction.comment == "It is about a parcel."
    assert correction.model_version == str(demo.model_version)
    pseudonym = correction.reviewer_pseudonym
    assert pseudonym
    assert reviewer.username not in pseudonym
    assert pseudonym != str(reviewer.pk)

    item_resume_after_review(item_id=item_id)

    item = Item.objects.get(pk=item_id)
    assert (item.status, item.outcome) == (ItemStatus.COMPLETED, ItemOutcome.CORRECTED)
    assert item.final_output == {"label": human_label}


def test_it_gives_a_reviewer_the_same_pseudonym_on_every_correction(
    api, reviewer, second_reviewer, demo, in_review
):
    for person in (reviewer, second_reviewer, reviewer):
        client = api(person)
        task = client.post(f"/api/v1/queues/{demo.queue.pk}/claim").json()
        label = another_label(task["prediction"]["output"]["label"])
        response = decide(
            client,
            task,
            outcome="correct",
            output={"label": label},
            reason_codes=["ambiguous-text"],
        )
        assert response.status_code == 201

    first, other, again = Correction.objects.order_by("id")
    assert first.reviewer_pseudonym == again.reviewer_pseudonym
    assert first.reviewer_pseudonym != other.reviewer_pseudonym


def test_it_rejects_with_a_reason(api, reviewer, claimed):
    response = decide(api(reviewer), claimed, outcome="reject", reason_codes=["spam"])

    assert response.status_code == 201
    item_resume_after_review(item_id=claimed["item"]["id"])
    item = Item.objects.get(pk=claimed["item"]["id"])
    assert item.outcome == ItemOutcome.REJECTED
    # A rejection is labeled data too: the model's answer, no human answer, and the reason.
    correction = Correction.objects.get()
    assert (correction.human_output, correction.reason_codes) == ({}, ["spam"])
    assert correction.diff == {
        "label": {"before": claimed["prediction"]["output"]["label"], "after": None}
    }


def test_it_audits_the_decision_with_its_reasons(api, reviewer, claimed, demo):
    decide(api(reviewer), claimed, outcome="reject", reason_codes=["spam"])

    event = AuditEvent.objects.get(action="task.decided")
    assert event.object_id == str(claimed["id"])
    assert event.actor == reviewer
    assert event.chain == demo.workflow.audit_chain
    assert event.data["outcome"] == "reject"
    assert event.data["reason_codes"] == ["spam"]


# --- refusing bad decisions -------------------------------------------------------------------


def test_it_refuses_a_correction_without_a_reason(api, reviewer, claimed, nothing_written):
    label = another_label(claimed["prediction"]["output"]["label"])

    response = decide(api(reviewer), claimed, outcome="correct", output={"label": label})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reason_codes"]
    nothing_written(claimed)


def test_it_refuses_a_correction_that_repeats_the_model(api, reviewer, claimed, nothing_written):
    response = decide(
        api(reviewer),
        claimed,
        outcome="correct",
        output=claimed["prediction"]["output"],
        reason_codes=["wrong-category"],
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["output"]
    nothing_written(claimed)


def test_it_refuses_a_rejection_without_a_reason(api, reviewer, claimed, nothing_written):
    response = decide(api(reviewer), claimed, outcome="reject")

    assert response.status_code == 400
    assert "reason_codes" in response.json()["errors"]
    nothing_written(claimed)


def test_it_refuses_a_reason_meant_for_the_other_outcome(api, reviewer, claimed, nothing_written):
    label = another_label(claimed["prediction"]["output"]["label"])

    response = decide(
        api(reviewer), claimed, outcome="correct", output={"label": label}, reason_codes=["spam"]
    )

    assert response.status_code == 400
    assert "spam" in response.json()["errors"]["reason_codes"][0]
    nothing_written(claimed)


def test_it_refuses_a_label_outside_the_taxonomy(api, reviewer, claimed, nothing_written):
    response = decide(
        api(reviewer),
        claimed,
        outcome="correct",
        output={"label": "weather"},
        reason_codes=["wrong-category"],
    )

    assert response.status_code == 400
    assert "output.label" in response.json()["errors"]
    nothing_written(claimed)


def test_it_refuses_a_decision_with_a_stale_claim_token(api, reviewer, claimed, nothing_written):
    stale = claimed | {"claim_token": "00000000-0000-4000-8000-000000000000"}

    response = decide(api(reviewer), stale, outcome="accept")

    assert response.status_code == 409
    assert response.json()["detail"]
    nothing_written(claimed)


def test_it_refuses_a_decision_from_a_colleague_who_does_not_hold_the_claim(
    api, second_reviewer, claimed, nothing_written
):
    response = decide(api(second_reviewer), claimed, outcome="accept")

    assert response.status_code == 409
    nothing_written(claimed)


# --- other teams ------------------------------------------------------------------------------


def test_it_hides_the_queue_and_its_tasks_from_another_team(
    api, outsider, claimed, demo, nothing_written
):
    client = api(outsider)

    assert client.post(f"/api/v1/queues/{demo.queue.pk}/claim").status_code == 404
    assert client.get(f"/api/v1/tasks/{claimed['id']}").status_code == 404
    assert decide(client, claimed, outcome="accept").status_code == 404
    assert demo.queue.slug not in str(client.get("/api/v1/queues/").json())
    nothing_written(claimed)
