"""Capacity caps, languages and "two tasks of one item, two reviewers" under concurrent claims,
on PostgreSQL, with real threads (one database connection each)."""

import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add, reviewer_profile_set
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.eligibility import CapacityReached
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_claim_settings_set, queue_create
from workflows.models import Item, Prediction

JOIN_TIMEOUT = 60  # seconds for all threads together; a deadlock fails instead of hanging

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(target, args_list):
    start = threading.Barrier(len(args_list))
    errors: list[BaseException] = []

    def run(*args):
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            target(*args)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=args, daemon=True) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    close_old_connections()
    assert not any(thread.is_alive() for thread in threads), "claims deadlocked or hung"
    assert errors == []


def items_with_predictions(demo, count, seed):
    demo_items_submit(demo, count=count, seed=seed)
    items = list(Item.objects.order_by("pk"))
    for item in items:
        Prediction.objects.create(
            item=item,
            model_version=demo.model_version,
            output={"label": "billing"},
            confidence=0.5,
            probabilities={"billing": 0.5},
            latency_ms=1.0,
        )
    return items


def test_concurrent_claims_by_one_reviewer_never_exceed_the_cap(demo, broker, reviewer, manager):
    queues = [demo.queue] + [
        queue_create(team=demo.team, workflow=demo.workflow, slug=f"triage-{n}", name=f"T{n}")
        for n in range(1, 4)
    ]
    with transaction.atomic():
        for number, item in enumerate(items_with_predictions(demo, 16, seed=8)):
            review_task_open(item=item, queue_slug=queues[number % 4].slug)
    reviewer_profile_set(user=reviewer, acting_user=manager, max_claims=2)
    outcomes: list[str] = []

    def claim(queue):
        for _ in range(3):
            try:
                task = review_task_claim(queue=queue, reviewer=reviewer)
                outcomes.append("claimed" if task else "none")
            except CapacityReached:
                outcomes.append("refused")

    # 16 threads, four per queue, all the same reviewer.
    run_threads(claim, [(queues[n % 4],) for n in range(16)])

    held = ReviewTask.objects.filter(claimed_by=reviewer, status=TaskStatus.CLAIMED)
    assert held.count() == 2
    assert len({task.queue_id for task in held}) == 2
    assert Counter(outcomes)["refused"] > 0


def test_concurrent_claims_respect_languages_and_give_an_items_two_tasks_to_two_people(
    demo, broker, manager
):
    User = get_user_model()
    reviewers = []
    for number in range(16):
        user = User.objects.create_user(username=f"reader-{number:02d}")
        membership_add(team=demo.team, user=user, role=Role.REVIEWER)
        reviewer_profile_set(
            user=user, acting_user=manager, languages=["en"] if number % 2 else ["de"]
        )
        reviewers.append(user)
    queue = queue_claim_settings_set(
        queue=demo.queue, acting_user=manager, changes={"language_field": "subject"}
    )
    items = items_with_predictions(demo, 40, seed=9)
    with transaction.atomic():
        for number, item in enumerate(items):
            # The demo tickets have no language field: the subject stands in for one here.
            item.input = item.input | {"subject": "en" if number % 2 else "de"}
            item.save(update_fields=["input"])
            for _ in range(2):  # four-eyes: two tasks of the same item
                review_task_open(item=item, queue_slug=queue.slug)
    languages = {user.pk: "en" if number % 2 else "de" for number, user in enumerate(reviewers)}

    def review_until_empty(user):
        while True:
            task = review_task_claim(queue=queue, reviewer=user)
            if task is None:
                return
            review_task_decide(
                task=task, reviewer=user, claim_token=task.claim_token, outcome="accept"
            )

    run_threads(review_until_empty, [(user,) for user in reviewers])
    # A reviewer stops when what is left is only the other halves of their own items; their
    # colleagues finish it, as they would in the queue.
    for user in reviewers:
        review_until_empty(user)

    decisions = list(Decision.objects.select_related("task"))
    assert len(decisions) == 80
    for decision in decisions:
        assert decision.task.language == languages[decision.reviewer_id]
    by_item: dict[int, list[int]] = {}
    for decision in decisions:
        by_item.setdefault(decision.task.item_id, []).append(decision.reviewer_id)
    assert all(len(set(people)) == 2 for people in by_item.values()), by_item
