"""A workflow whose shadow model (trained on shuffled labels) answers beside the serving one,
every item finished, and a pairwise queue that drew them all."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.learn.monitoring.shadow import shadow_start
from reviewapp.review.pairwise.models import Comparison
from reviewapp.review.pairwise.services import comparisons_open, pairwise_queue_create
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.learn.training.test_canary import _register
from workflows.pipeline.engine import item_resume_after_review


@pytest.fixture
def pairwise_queue(demo, manager):
    return pairwise_queue_create(
        team=demo.team,
        workflow=demo.workflow,
        slug="triage-pairwise",
        name="Triage: which answer is better",
        sample_rate=1.0,
        acting_user=manager,
    )


@pytest.fixture
def compared(demo, routed_items, pairwise_queue, approver, second_reviewer):
    """The comparisons opened for 30 finished items (those whose two answers differ)."""
    candidate = _register("ticket-triage@2-noise", shuffle_labels=True, team=demo.team)
    shadow_start(workflow=demo.workflow, candidate=candidate, acting_user=approver)
    routed_items(count=30, seed=5)
    # The items' own review, by someone else than the pairwise reviewers of the tests.
    while (task := review_task_claim(queue=demo.queue, reviewer=second_reviewer)) is not None:
        review_task_decide(
            task=task, reviewer=second_reviewer, claim_token=task.claim_token, outcome="accept"
        )
        item_resume_after_review(item_id=task.item_id)
    opened = comparisons_open(now=timezone.now() + timedelta(minutes=2))
    assert opened > 5
    return list(Comparison.objects.select_related("task", "champion", "candidate").order_by("pk"))
