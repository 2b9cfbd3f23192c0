"""Undo against the resume it races with, on PostgreSQL, with real threads (one connection
each): every time exactly one wins, and the loser leaves no trace."""

import threading

import pytest
from django.db import close_old_connections, connection

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from reviewapp.review.reviews.undo import UndoRefused, review_decision_undo
from workflows.models import Item, ItemStatus
from workflows.pipeline.engine import item_resume_after_review

ROUNDS = 8
JOIN_TIMEOUT = 60  # seconds for both threads; a deadlock fails instead of hanging

pytestmark = pytest.mark.django_db(transaction=True)


def accept(task: ReviewTask, reviewer) -> None:
    review_task_decide(task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept")


def race(task: ReviewTask, reviewer) -> dict:
    start = threading.Barrier(2)
    results: dict = {}
    errors: list[BaseException] = []

    def undo():
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            review_decision_undo(task=task, reviewer=reviewer)
            results["undone"] = True
        except UndoRefused:
            results["undone"] = False
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def resume():
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            results["resumed"] = item_resume_after_review(item_id=task.item_id)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=undo, daemon=True),
        threading.Thread(target=resume, daemon=True),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    close_old_connections()
    assert not any(thread.is_alive() for thread in threads), "undo and resume deadlocked"
    assert errors == []
    return results


def test_undo_and_resume_never_both_win(demo, reviewer, routed_items, broker):
    assert len(routed_items(count=30, seed=5)) >= ROUNDS
    undone = 0
    for _ in range(ROUNDS):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        assert task is not None
        accept(task, reviewer)

        results = race(task, reviewer)

        assert results["undone"] != results["resumed"], results
        task.refresh_from_db()
        item = Item.objects.get(pk=task.item_id)
        if results["undone"]:
            undone += 1
            assert item.status == ItemStatus.AWAITING_REVIEW
            assert task.status == TaskStatus.CLAIMED and task.claimed_by_id == reviewer.pk
            assert not Decision.objects.filter(task=task).exists()
            accept(task, reviewer)  # decided again, so the next claim is a new task
            assert item_resume_after_review(item_id=task.item_id) is True
        else:
            assert item.status == ItemStatus.COMPLETED
            assert task.status == TaskStatus.DECIDED
            assert Decision.objects.filter(task=task).exists()
    assert AuditEvent.objects.filter(action="task.decision_undone").count() == undone
