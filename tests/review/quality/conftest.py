"""A demo workflow whose policy sends every item to four-eyes review, and the people for it."""

import pytest
from django.contrib.auth import get_user_model

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.corrections.services import reason_codes_for
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.queues import queue_create
from tests.conftest import PASSWORD, run_pipeline
from workflows.models import Item, ItemStatus
from workflows.services import workflow_publish

FOUR_EYES_RULE = {
    "name": "every-ticket",
    "when": {"field": "confidence", "gte": 0},
    "then": {"four_eyes": {"priority": 3}},
}


@pytest.fixture
def four_eyes_policy(demo):
    """Publish a version of the demo workflow whose first rule sends everything to four-eyes."""
    definition = dict(demo.workflow.current_version.definition)
    routing = dict(definition["routing"])
    routing["rules"] = [FOUR_EYES_RULE, *routing.get("rules", [])]
    workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=definition | {"routing": routing},
    )
    demo.workflow.refresh_from_db()
    return demo


@pytest.fixture
def four_eyes_items(four_eyes_policy):
    def make(count=3, seed=3):
        demo_items_submit(four_eyes_policy, count=count, seed=seed)
        ids = list(Item.objects.order_by("pk").values_list("pk", flat=True))
        run_pipeline(ids)
        return list(Item.objects.filter(status=ItemStatus.AWAITING_REVIEW).order_by("pk"))

    return make


@pytest.fixture
def senior(demo):
    """A third reviewer of the team, the one who settles disagreements."""
    user = get_user_model().objects.create_user(username="sam", password=PASSWORD)
    membership_add(team=demo.team, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def senior_queue(demo):
    return queue_create(
        team=demo.team, workflow=demo.workflow, slug="ticket-triage-senior", name="Senior review"
    )


def correct_reason(workflow) -> str:
    return reason_codes_for(workflow, "correct").order_by("code").first().code


def other_label(label: str) -> str:
    from workflows.demo.tickets import LABELS

    return next(candidate for candidate in LABELS if candidate != label)


def claim(queue, reviewer) -> ReviewTask:
    task = review_task_claim(queue=queue, reviewer=reviewer)
    assert task is not None, f"{reviewer} got nothing to claim in {queue}"
    assert task.status == TaskStatus.CLAIMED
    return task


def decide(task, reviewer, *, outcome="accept", output=None, reason_codes=None):
    return review_task_decide(
        task=task,
        reviewer=reviewer,
        claim_token=task.claim_token,
        outcome=outcome,
        output=output,
        reason_codes=reason_codes,
    )
