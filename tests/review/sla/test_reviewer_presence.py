"""The Reviewers panel of a queue: presence from signs of life, tasks held, today's decisions
and their median time, room left under the caps; managers only, in a fixed number of queries."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from reviewapp.core.accounts.models import ReviewerProfile, Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.review.reviews.assignments import review_tasks_bulk_assign
from reviewapp.review.reviews.claims import review_task_claim, review_task_extend
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.sla.presence import Presence, queue_reviewer_workloads

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def at(moment):
    return time_machine.travel(moment, tick=False)


def claim(queue, reviewer, moment):
    with at(moment):
        return review_task_claim(queue=queue, reviewer=reviewer)


def decide(task, reviewer, moment):
    with at(moment):
        review_task_decide(
            task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
        )


def workloads(queue, moment, zone="UTC"):
    with at(moment), timezone.override(zone):
        return {w.reviewer.get_username(): w for w in queue_reviewer_workloads(queue)}


@pytest.fixture
def tasks(routed_items, demo):
    routed_items()
    tasks = ReviewTask.objects.filter(queue=demo.queue)
    assert tasks.count() >= 9
    return tasks


@pytest.mark.parametrize(
    ("quiet", "presence"),
    [
        (timedelta(seconds=90), Presence.ACTIVE),
        (10 * MINUTE, Presence.IDLE),
        (3 * timedelta(hours=1), Presence.AWAY),
        (9 * timedelta(hours=1), Presence.OFFLINE),
    ],
)
def test_presence_follows_the_last_heartbeat(tasks, demo, reviewer, quiet, presence):
    task = claim(demo.queue, reviewer, NOW - 5 * MINUTE)
    with at(NOW):
        review_task_extend(task=task, reviewer=reviewer, claim_token=task.claim_token)

    assert workloads(demo.queue, NOW + quiet)["alice"].presence == presence


def test_someone_with_no_sign_of_life_is_offline(tasks, demo, second_reviewer):
    assert workloads(demo.queue, NOW)["bob"].presence == Presence.OFFLINE


def test_a_managers_assignment_is_not_the_reviewers_sign_of_life(
    tasks, demo, manager, second_reviewer
):
    with at(NOW):
        review_tasks_bulk_assign(
            queue=demo.queue, to_reviewer=second_reviewer, count=1, acting_user=manager
        )

    bob = workloads(demo.queue, NOW + MINUTE)["bob"]
    assert (bob.presence, bob.held) == (Presence.OFFLINE, 1)


def test_a_decision_and_signing_in_are_signs_of_life(tasks, demo, reviewer, second_reviewer):
    task = claim(demo.queue, reviewer, NOW - 3 * MINUTE)
    decide(task, reviewer, NOW - MINUTE)
    second_reviewer.last_login = NOW - 20 * MINUTE
    second_reviewer.save()

    seen = workloads(demo.queue, NOW)
    assert seen["alice"].presence == Presence.ACTIVE
    assert seen["bob"].presence == Presence.AWAY


def test_the_workload_counts_what_each_reviewer_holds_and_decided_today(
    tasks, demo, manager, reviewer, second_reviewer
):
    queue = demo.queue
    queue.max_claims_per_reviewer = 4
    queue.save()
    ReviewerProfile.objects.update_or_create(user=reviewer, defaults={"max_claims": 5})
    # Yesterday (before midnight UTC): not today's.
    old = claim(queue, reviewer, NOW - timedelta(hours=11))
    decide(old, reviewer, NOW - timedelta(hours=10, minutes=55))
    # Today: 2, 4 and 9 minutes from claim to decision (median 4 minutes).
    start = NOW - timedelta(hours=2)
    for minutes in (2, 4, 9):
        task = claim(queue, reviewer, start)
        decide(task, reviewer, start + minutes * MINUTE)
        start += 10 * MINUTE
    bob_task = claim(queue, second_reviewer, NOW - 30 * MINUTE)
    decide(bob_task, second_reviewer, NOW - 29 * MINUTE)
    # Held now: two by alice (her claim and one a manager gave her), one by bob.
    claim(queue, reviewer, NOW - 2 * MINUTE)
    with at(NOW - MINUTE):
        review_tasks_bulk_assign(queue=queue, to_reviewer=reviewer, count=1, acting_user=manager)
    claim(queue, second_reviewer, NOW - MINUTE)

    seen = workloads(queue, NOW)

    alice, bob = seen["alice"], seen["bob"]
    assert (alice.held, alice.decided_today, alice.median_today) == (2, 3, 4 * MINUTE)
    assert (bob.held, bob.decided_today, bob.median_today) == (1, 1, MINUTE)
    # alice: min(her cap 5 - 2 held, the queue's 4 - 2 held here); bob: no personal cap.
    assert (alice.room, bob.room) == (2, 3)


def test_today_starts_at_midnight_in_the_readers_time_zone(tasks, demo, reviewer):
    # 23:30 UTC on May 31 is already June 1 in Berlin (UTC+2).
    late = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    task = claim(demo.queue, reviewer, late - MINUTE)
    decide(task, reviewer, late)

    assert workloads(demo.queue, NOW, "UTC")["alice"].decided_today == 0
    assert workloads(demo.queue, NOW, "Europe/Berlin")["alice"].decided_today == 1


def test_the_panel_costs_the_same_queries_for_two_reviewers_as_for_six(
    tasks, demo, reviewer, second_reviewer, django_assert_num_queries
):
    claim(demo.queue, reviewer, NOW - MINUTE)
    decide(claim(demo.queue, second_reviewer, NOW - 2 * MINUTE), second_reviewer, NOW - MINUTE)
    # The reviewers with their profiles, their claims, the queue's decisions of today.
    with at(NOW), django_assert_num_queries(3):
        assert len(queue_reviewer_workloads(demo.queue)) >= 2
    for n in range(4):
        extra = get_user_model().objects.create_user(username=f"extra{n}")
        membership_add(team=demo.team, user=extra, role=Role.REVIEWER)
        claim(demo.queue, extra, NOW - MINUTE)
    with at(NOW), django_assert_num_queries(3):
        assert len(queue_reviewer_workloads(demo.queue)) >= 6


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_managers_the_reviewers_with_the_thresholds(
    tasks, demo, manager, reviewer, django_assert_max_num_queries
):
    task = claim(demo.queue, reviewer, NOW - 3 * MINUTE)
    with at(NOW):
        review_task_extend(task=task, reviewer=reviewer, claim_token=task.claim_token)
    client = browser(manager)
    url = f"/board/queues/{demo.queue.pk}/reviewers/"
    client.get(url)  # the session, the user and the bell's count, once

    # Session, user, queue and its permission, the top bar's roles, the panel's three.
    with at(NOW + MINUTE), django_assert_max_num_queries(9):
        response = client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Active now: within 2 minutes" in html
    assert 'data-reviewer="alice"' in html
    assert "Active now</td>" in html
    board = client.get("/board/").content.decode()
    assert url in board


def test_only_the_queues_managers_see_the_page(tasks, demo, reviewer, outsider):
    url = f"/board/queues/{demo.queue.pk}/reviewers/"
    assert browser(reviewer).get(url).status_code == 404
    assert browser(outsider).get(url).status_code == 404
    assert Client().get(url).status_code == 302


def test_the_panel_refreshes_as_a_fragment(tasks, demo, manager):
    response = browser(manager).get(
        f"/board/queues/{demo.queue.pk}/reviewers/", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="reviewers-panel"')
    assert "<html" not in html
