"""Who may be handed a task: capacity caps, skills, languages, and never two tasks of one item."""

import pytest
from django.test import Client

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.accounts.services import reviewer_profile_set
from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.assignments import (
    TaskActionInvalid,
    review_task_reassign,
    review_tasks_bulk_assign,
)
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.eligibility import CapacityReached, SkillsMissing
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_claim_settings_set, queue_create
from tests.conftest import PASSWORD
from workflows.models import Item, Prediction


@pytest.fixture
def items(demo):
    demo_items_submit(demo, count=6, seed=4)
    return list(Item.objects.order_by("pk"))


def open_task(item, queue_slug, *, priority=0):
    return review_task_open(item=item, queue_slug=queue_slug, priority=priority)


def predict(item, demo):
    Prediction.objects.create(
        item=item,
        model_version=demo.model_version,
        output={"label": "billing"},
        confidence=0.5,
        probabilities={"billing": 0.5},
        latency_ms=1.0,
    )


@pytest.fixture
def second_queue(demo):
    return queue_create(
        team=demo.team, workflow=demo.workflow, slug="triage-second", name="Second triage"
    )


def test_a_reviewer_at_their_cap_is_refused_with_a_clear_message(
    items, demo, second_queue, reviewer, manager, api
):
    reviewer_profile_set(user=reviewer, acting_user=manager, max_claims=1)
    open_task(items[0], demo.queue.slug)
    open_task(items[1], second_queue.slug)
    held = review_task_claim(queue=demo.queue, reviewer=reviewer)

    with pytest.raises(CapacityReached):
        review_task_claim(queue=second_queue, reviewer=reviewer)
    response = api(reviewer).post(f"/api/v1/queues/{second_queue.pk}/claim")

    assert response.status_code == 409
    assert "decide or release one first" in response.json()["detail"]
    # The task they hold is still theirs to come back to.
    assert review_task_claim(queue=demo.queue, reviewer=reviewer).pk == held.pk


def test_the_queue_cap_limits_what_a_manager_assigns(
    items, demo, reviewer, second_reviewer, manager, api
):
    queue_claim_settings_set(
        queue=demo.queue, acting_user=manager, changes={"max_claims_per_reviewer": 2}
    )
    for item in items[:4]:
        open_task(item, demo.queue.slug)

    refused = api(manager).post(
        f"/api/v1/queues/{demo.queue.pk}/assign", {"reviewer": "bob", "count": 3}, format="json"
    )
    assert refused.status_code == 409
    assert "bob can take 2 more tasks" in refused.json()["detail"]
    assert not ReviewTask.objects.filter(status=TaskStatus.CLAIMED).exists()

    assigned = review_tasks_bulk_assign(
        queue=demo.queue, to_reviewer=second_reviewer, count=2, acting_user=manager
    )
    assert len(assigned) == 2
    other = ReviewTask.objects.filter(status=TaskStatus.OPEN).first()
    with pytest.raises(CapacityReached):
        review_task_reassign(task=other, to_reviewer=second_reviewer, acting_user=manager)
    # Reassigning a task bob already holds takes no extra room.
    review_task_reassign(task=assigned[0], to_reviewer=second_reviewer, acting_user=manager)


def test_a_queue_needing_skills_refuses_reviewers_without_them(items, demo, reviewer, manager, api):
    queue = queue_claim_settings_set(
        queue=demo.queue, acting_user=manager, changes={"required_skills": ["billing"]}
    )
    open_task(items[0], demo.queue.slug)

    with pytest.raises(SkillsMissing):
        review_task_claim(queue=queue, reviewer=reviewer)
    response = api(reviewer).post(f"/api/v1/queues/{demo.queue.pk}/claim")
    assert response.status_code == 403
    assert "billing" in response.json()["detail"]
    with pytest.raises(TaskActionInvalid):
        review_tasks_bulk_assign(queue=queue, to_reviewer=reviewer, count=1, acting_user=manager)

    reviewer_profile_set(user=reviewer, acting_user=manager, skills=["Billing", "legal"])
    assert review_task_claim(queue=demo.queue, reviewer=reviewer) is not None


def test_the_review_next_page_shows_the_refusal_in_words(items, demo, reviewer, manager):
    reviewer_profile_set(user=reviewer, acting_user=manager, max_claims=1)
    second = queue_create(
        team=demo.team, workflow=demo.workflow, slug="triage-third", name="Third triage"
    )
    open_task(items[0], demo.queue.slug)
    open_task(items[1], second.slug)
    review_task_claim(queue=demo.queue, reviewer=reviewer)
    client = Client()
    assert client.login(username=reviewer.username, password=PASSWORD)

    response = client.post(f"/queues/{second.pk}/next", follow=True)

    assert response.status_code in (200, 409)
    assert "decide or release one first" in response.content.decode()


def test_a_task_in_a_language_the_reviewer_lacks_is_never_handed_to_them(
    items, demo, reviewer, second_reviewer, manager
):
    queue = queue_claim_settings_set(
        queue=demo.queue, acting_user=manager, changes={"language_field": "subject"}
    )
    # The demo tickets have no language field: the subject stands in for one here.
    Item.objects.filter(pk=items[0].pk).update(input=items[0].input | {"subject": "DE"})
    Item.objects.filter(pk=items[1].pk).update(input=items[1].input | {"subject": "fr"})
    german = open_task(Item.objects.get(pk=items[0].pk), demo.queue.slug, priority=9)
    french = open_task(Item.objects.get(pk=items[1].pk), demo.queue.slug, priority=5)
    assert (german.language, french.language) == ("de", "fr")
    reviewer_profile_set(user=reviewer, acting_user=manager, languages=["fr"])

    assert review_task_claim(queue=queue, reviewer=reviewer).pk == french.pk
    assert review_task_claim(queue=queue, reviewer=second_reviewer) is None
    with pytest.raises(TaskActionInvalid):
        review_task_reassign(task=german, to_reviewer=reviewer, acting_user=manager)


def test_a_reviewer_never_gets_a_second_task_of_an_item_they_hold_or_decided(
    items, demo, second_queue, reviewer, second_reviewer, manager
):
    for item in items[:2]:
        predict(item, demo)
    first = open_task(items[0], demo.queue.slug, priority=5)
    second = open_task(items[0], demo.queue.slug, priority=5)  # four-eyes: two tasks, one item
    other = open_task(items[1], demo.queue.slug, priority=0)

    held = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert held.pk == first.pk
    review_task_decide(task=held, reviewer=reviewer, claim_token=held.claim_token, outcome="accept")

    assert review_task_claim(queue=demo.queue, reviewer=reviewer).pk == other.pk
    assert review_task_claim(queue=demo.queue, reviewer=second_reviewer).pk == second.pk
    with pytest.raises(TaskActionInvalid):
        review_task_reassign(task=second, to_reviewer=reviewer, acting_user=manager)


def test_only_a_manager_of_the_reviewers_team_sets_their_profile(
    demo, reviewer, manager, outsider, api
):
    refused = api(outsider).patch(
        f"/api/v1/reviewers/{reviewer.username}/profile", {"max_claims": 1}, format="json"
    )
    # The same answer as for a name that does not exist: nobody learns who works elsewhere.
    assert refused.status_code == 404
    bad = api(manager).patch(
        f"/api/v1/reviewers/{reviewer.username}/profile",
        {"max_claims": -1, "languages": "en"},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"max_claims", "languages"}

    response = api(manager).patch(
        f"/api/v1/reviewers/{reviewer.username}/profile",
        {"languages": ["EN", "de"], "max_claims": 3},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {
        "reviewer": reviewer.username,
        "skills": [],
        "languages": ["de", "en"],
        "max_claims": 3,
    }
    assert ReviewerProfile.objects.get(user=reviewer).max_claims == 3
    assert AuditEvent.objects.filter(action="reviewer_profile.changed").count() == 1
    assert (
        api(manager).patch("/api/v1/reviewers/nobody/profile", {}, format="json").status_code == 404
    )
