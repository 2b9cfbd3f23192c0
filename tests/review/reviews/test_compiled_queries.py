"""The hot path's querysets are compiled once per thread (reviews.compiled) and run with each
call's values; on PostgreSQL they are prepared statements with the rules' constants written in."""

import pytest
from django.db import connection, transaction

from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.compiled import MARKER_IDS, compiled
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_create
from workflows.models import Item


@pytest.fixture
def two_queues(demo):
    second = queue_create(
        team=demo.team, workflow=demo.workflow, slug="triage-second", name="Second triage"
    )
    demo_items_submit(demo, count=4, seed=7)
    items = list(Item.objects.order_by("pk"))
    tasks = {
        demo.queue.slug: [
            review_task_open(item=item, queue_slug=demo.queue.slug) for item in items[:2]
        ],
        second.slug: [review_task_open(item=item, queue_slug=second.slug) for item in items[2:]],
    }
    return demo.queue, second, tasks


def test_each_claim_runs_the_compiled_claim_with_its_own_reviewer_and_queue(
    two_queues, reviewer, second_reviewer
):
    first, second, tasks = two_queues

    mine = review_task_claim(queue=first, reviewer=reviewer)
    theirs = review_task_claim(queue=second, reviewer=second_reviewer)
    mine_too = review_task_claim(queue=second, reviewer=reviewer)

    assert mine.pk in {task.pk for task in tasks[first.slug]}
    assert {theirs.pk, mine_too.pk} == {task.pk for task in tasks[second.slug]}
    stored = {task.pk: task for task in ReviewTask.objects.filter(status=TaskStatus.CLAIMED)}
    assert {pk: task.claimed_by_id for pk, task in stored.items()} == {
        mine.pk: reviewer.pk,
        theirs.pk: second_reviewer.pk,
        mine_too.pk: reviewer.pk,
    }
    assert (mine.queue, theirs.queue) == (first, second)


def test_the_claim_is_a_prepared_statement_with_the_rules_constants_written_in(
    two_queues, reviewer
):
    if connection.vendor != "postgresql":
        pytest.fail("The claim's preparation is PostgreSQL's: run the tests on PostgreSQL.")
    first, _, _ = two_queues
    review_task_claim(queue=first, reviewer=reviewer)

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    (claim,) = [sql for sql in statements if sql.startswith('UPDATE "reviews_reviewtask"')]
    # Only the call's values are parameters; the status the partial claim index is built on
    # is a constant, so a generic plan can still walk that index.
    assert "\"status\" = 'open'" in claim
    assert "$1" in claim


def test_a_compiled_query_refuses_a_value_it_would_not_fill_in(db):
    with transaction.atomic(), pytest.raises(ValueError, match="does not use its 'other'"):
        compiled(
            ("test_unused_slot",),
            lambda task, other: ReviewTask.objects.filter(pk=task)[:1],
            task=MARKER_IDS[0],
            other=MARKER_IDS[1],
        )
