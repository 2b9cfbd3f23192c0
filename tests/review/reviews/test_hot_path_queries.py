"""Claim and decide are what every reviewer runs all day, at hundreds of reviews a second:
their query counts are pinned, so a change that adds a round trip to the hot path shows here.

The audit append is two round trips since ``audit_shard_take`` (audit migration 0004) takes a
shard and reads its last event in one call: one fewer for a claim and for a decision."""

import pytest

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.audit.services import audit_verify
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, TaskStatus
from workflows.demo.tickets import LABELS
from workflows.models import Item, ItemOutcome, ItemStatus
from workflows.pipeline.engine import item_resume_after_review

# Both ways: prepared statements on (the default) and off (behind PgBouncer in transaction mode).
pytestmark = pytest.mark.usefixtures("prepared_statements")


@pytest.fixture
def claimed(demo, reviewer, routed_items):
    routed_items(count=10)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert task is not None and task.item.routing.get("action") != "four_eyes"
    return task


def other_label(task) -> str:
    return next(label for label in LABELS if label != task.item.prediction.output["label"])


def test_a_claim_locks_and_writes_the_next_task_in_one_statement(
    demo, reviewer, second_reviewer, claimed, django_assert_num_queries
):
    ReviewerProfile.objects.get_or_create(user=second_reviewer)  # made by their first claim
    # Profile lock, "already holding one?", UPDATE ... (SELECT ... SKIP LOCKED) RETURNING,
    # audit: shard and last event, insert; plus the savepoint pair of the test transaction.
    with django_assert_num_queries(7):
        task = review_task_claim(queue=demo.queue, reviewer=second_reviewer)

    assert task.pk != claimed.pk
    assert task.status == TaskStatus.CLAIMED
    assert task.claimed_by == second_reviewer
    assert task.claim_token is not None and task.lease_expires_at is not None
    task.refresh_from_db()
    assert (task.status, task.claimed_by_id) == (TaskStatus.CLAIMED, second_reviewer.pk)


def test_a_claim_of_the_held_task_returns_it_with_its_queue(
    demo, reviewer, claimed, django_assert_num_queries
):
    with django_assert_num_queries(4):
        again = review_task_claim(queue=demo.queue, reviewer=reviewer)

    assert again.pk == claimed.pk
    assert again.queue.workflow.audit_chain == demo.workflow.audit_chain


def test_an_accept_reads_task_item_prediction_and_gold_in_one_locked_query(
    reviewer, claimed, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # Locked read, decision, task update, audit (2), plus the savepoint pair.
    with django_assert_num_queries(7):
        decision = review_task_decide(
            task=claimed, reviewer=reviewer, claim_token=claimed.claim_token, outcome="accept"
        )

    assert decision.output == claimed.item.prediction.output
    assert list(decision.reason_codes.all()) == []
    assert audit_verify().broken is None


def test_a_correction_stores_its_reasons_once_without_reading_them_back(
    reviewer, claimed, django_assert_num_queries
):
    output = {"label": other_label(claimed)}
    # Accept's 7, plus: workflow version (schema), reason codes, the links, the correction.
    with django_assert_num_queries(11):
        decision = review_task_decide(
            task=claimed,
            reviewer=reviewer,
            claim_token=claimed.claim_token,
            outcome="correct",
            output=output,
            reason_codes=["wrong-category", "wrong-category"],
        )

    assert [code.code for code in Decision.objects.get(pk=decision.pk).reason_codes.all()] == [
        "wrong-category"
    ]
    correction = Correction.objects.get(decision=decision)
    assert correction.reason_codes == ["wrong-category"]
    assert correction.human_output == output
    assert correction.model_version == str(claimed.item.prediction.model_version)


def test_the_resume_of_a_decided_item_reads_it_with_its_version_and_its_tasks_once(
    reviewer, claimed, django_assert_num_queries
):
    review_task_decide(
        task=claimed, reviewer=reviewer, claim_token=claimed.claim_token, outcome="accept"
    )
    # Locked item with workflow and version, its tasks with the decision, audit (2), the
    # item's update, plus the savepoint pair (the demo workflow sends no webhook).
    with django_assert_num_queries(7):
        assert item_resume_after_review(item_id=claimed.item_id) is True

    item = Item.objects.get(pk=claimed.item_id)
    assert (item.status, item.outcome) == (ItemStatus.COMPLETED, ItemOutcome.ACCEPTED)
    assert audit_verify().broken is None
