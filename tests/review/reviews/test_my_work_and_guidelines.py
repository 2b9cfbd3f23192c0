"""The reviewer's My work page (held tasks, today's decisions, median time, gold accuracy) and
the workflow's guidelines beside the task, rendered from Markdown with raw HTML inert."""

import re
from datetime import UTC, datetime, timedelta
from statistics import median

import pytest
import time_machine
from django.test import Client

from reviewapp.review.quality.models import GoldTask
from reviewapp.review.quality.services import gold_item_add, queue_quality_set
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask
from workflows.demo.definition import TICKET_TRIAGE
from workflows.services import workflow_publish

TODAY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
YESTERDAY = TODAY - timedelta(days=1)
TICKET = {"subject": "Invoice charged twice", "body": "I was billed twice this month."}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def claim_and_accept(demo, reviewer, spent_ms: int) -> ReviewTask:
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert task is not None
    review_task_decide(
        task=task,
        reviewer=reviewer,
        claim_token=task.claim_token,
        outcome="accept",
        time_spent_ms=spent_ms,
    )
    return ReviewTask.objects.select_related("item__prediction").get(pk=task.pk)


@pytest.fixture
def gold_everywhere(demo, manager):
    """Every real task followed by a gold one; one gold item shows the right answer, one not."""
    queue_quality_set(queue=demo.queue, acting_user=manager, gold_rate=1.0)
    gold_item_add(
        queue=demo.queue, acting_user=manager, input=TICKET, expected_output={"label": "billing"}
    )
    gold_item_add(
        queue=demo.queue,
        acting_user=manager,
        input=TICKET | {"subject": "App crashes on start"},
        expected_output={"label": "technical"},
        proposed_output={"label": "billing"},
    )


def test_my_work_counts_what_the_reviewer_did_today(
    demo, reviewer, second_reviewer, gold_everywhere, routed_items
):
    routed_items(count=20, seed=5)
    with time_machine.travel(YESTERDAY, tick=False):
        decided = [claim_and_accept(demo, reviewer, 1_000)]
    spent_today = [2_000, 4_000, 9_000, 3_000, 5_000, 7_000]
    with time_machine.travel(TODAY, tick=False):
        decided += [claim_and_accept(demo, reviewer, spent) for spent in spent_today]
        claim_and_accept(demo, second_reviewer, 60_000)  # someone else's: not counted
        held = review_task_claim(queue=demo.queue, reviewer=reviewer)
        assert held is not None
        html = signed_in(reviewer).get("/my-work/").content.decode()

    assert re.search(r'data-testid="done-today">6<', html)
    assert f'data-testid="median-time">{median(spent_today) / 1000:.1f} s<' in html
    # Gold answers worked out from what the test accepted: right when the shown output is
    # the gold item's expected one.
    golds = {g.task_id: g for g in GoldTask.objects.select_related("gold_item")}
    answered = [task for task in decided if task.pk in golds]
    assert answered, "the gold rate of 1 mixes gold tasks in between the real ones"
    right = sum(
        task.item.prediction.output == golds[task.pk].gold_item.expected_output for task in answered
    )
    shown = f"{right / len(answered):.0%} <small>({right} of {len(answered)})</small>"
    assert f'data-testid="gold-accuracy">{shown}<' in html
    assert f'href="/review/{held.pk}/">Task {held.pk}</a>' in html
    # The last decision's item has not resumed (no worker here): it can be taken back.
    assert f'action="/review/{decided[-1].pk}/undo"' in html


def test_my_work_of_a_newcomer_shows_no_figures_and_no_other_team(outsider, demo):
    html = signed_in(outsider).get("/my-work/").content.decode()
    assert 'data-testid="done-today">0<' in html
    assert 'data-testid="median-time">—<' in html
    assert 'data-testid="gold-accuracy">—<' in html
    assert demo.queue.name not in html


def test_my_work_asks_for_sign_in():
    response = Client().get("/my-work/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- guidelines ---------------------------------------------------------------------------------

GUIDELINES = """**Pick the team** that would solve it.

<script>alert("guidelines")</script>

<img src=x onerror=alert(1)> [a link](javascript:alert(1)) [help](https://example.com/help)
"""


def test_the_guidelines_show_beside_the_task_with_html_inert(demo, reviewer, routed_items):
    workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=TICKET_TRIAGE.definition | {"guidelines": GUIDELINES},
    )
    demo.workflow.refresh_from_db()  # items take the workflow's new current version
    routed_items(count=10, seed=5)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert task is not None

    html = signed_in(reviewer).get(f"/review/{task.pk}/").content.decode()

    aside = re.search(r'<aside class="card guidelines".*?</aside>', html, re.S)
    assert aside, "no guidelines beside the task"
    shown = aside[0]
    assert "<strong>Pick the team</strong>" in shown
    assert "<script" not in shown and "&lt;script&gt;" in shown
    assert "<img" not in shown and "&lt;img" in shown
    assert 'href="javascript:' not in shown
    assert '<a href="https://example.com/help">help</a>' in shown


def test_a_workflow_without_guidelines_shows_none(demo, reviewer, routed_items):
    workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition={k: v for k, v in TICKET_TRIAGE.definition.items() if k != "guidelines"},
    )
    demo.workflow.refresh_from_db()  # items take the workflow's new current version
    routed_items(count=10, seed=5)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert task is not None
    html = signed_in(reviewer).get(f"/review/{task.pk}/").content.decode()
    assert 'class="card guidelines"' not in html
