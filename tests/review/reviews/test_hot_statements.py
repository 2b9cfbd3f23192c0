"""The hot path's statements (reviews.statements) run with each call's values; on PostgreSQL
they are prepared, with the rules' constants written in, unless prepared statements are off."""

import pytest
from django.db import connection

from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
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


def test_each_claim_runs_the_claim_statement_with_its_own_reviewer_and_queue(
    two_queues, reviewer, second_reviewer, prepared_statements
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


def hot_statement_runs() -> dict[str, int]:
    """Executions of each prepared hot-path statement on this connection so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return {
            statement: runs
            for statement, runs in cursor.fetchall()
            if statement.startswith(('UPDATE "reviews_reviewtask"', "SELECT t.", "SELECT p."))
        }


def claim_and_accept(queue, reviewer) -> None:
    task = review_task_claim(queue=queue, reviewer=reviewer)
    assert task is not None
    review_task_decide(task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept")


def test_the_claim_and_the_decision_run_prepared_statements_with_the_rules_constants_written_in(
    demo, routed_items, reviewer, settings
):
    settings.REVIEWAPP_PREPARED_STATEMENTS = True
    routed_items(count=10)
    first = demo.queue
    before = hot_statement_runs()

    claim_and_accept(first, reviewer)
    claim_and_accept(first, reviewer)

    after = hot_statement_runs()
    ran = {sql: runs - before.get(sql, 0) for sql, runs in after.items()}
    (claim,) = [sql for sql in ran if sql.startswith('UPDATE "reviews_reviewtask"')]
    # Only the call's values are parameters; the status the partial claim index is built on
    # is a constant, so a generic plan can still walk that index.
    assert "c.status = 'open'" in claim
    assert "$1" in claim
    assert ran[claim] == 2
    # The profile lock, "already holding one?", the claim and the decision's locked read.
    assert len([sql for sql, runs in ran.items() if runs == 2]) == 4


def test_with_prepared_statements_off_nothing_on_the_hot_path_is_prepared(
    demo, routed_items, reviewer, settings
):
    settings.REVIEWAPP_PREPARED_STATEMENTS = False
    routed_items(count=10)
    first = demo.queue
    before = hot_statement_runs()

    claim_and_accept(first, reviewer)
    claim_and_accept(first, reviewer)

    assert hot_statement_runs() == before
    assert ReviewTask.objects.filter(status=TaskStatus.DECIDED).count() >= 2


def test_the_setting_comes_from_the_environment_and_reaches_psycopg(monkeypatch):
    import importlib

    import reviewapp.settings as project_settings

    try:
        monkeypatch.setenv("DATABASE_URL", "postgres://u@127.0.0.1:5432/d")
        monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")
        off = importlib.reload(project_settings)
        assert off.REVIEWAPP_PREPARED_STATEMENTS is False
        assert off.DATABASES["default"]["OPTIONS"]["prepare_threshold"] is None
        monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "true")
        on = importlib.reload(project_settings)
        assert on.REVIEWAPP_PREPARED_STATEMENTS is True
        assert on.DATABASES["default"]["OPTIONS"]["prepare_threshold"] == 0
    finally:
        monkeypatch.undo()
        importlib.reload(project_settings)
