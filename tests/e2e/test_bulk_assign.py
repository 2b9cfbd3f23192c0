"""A manager filters a queue's tasks, selects some and previews a bulk assignment that runs into
a reviewer's cap: the preview says how many are skipped and why, and the result says it again."""

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from reviewapp.core.accounts.services import reviewer_profile_set
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from tests.e2e.test_accessibility import axe_problems
from workflows.models import Item

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_manager_previews_a_bulk_assignment_that_hits_a_cap_then_confirms_it(
    sign_in, demo, manager, reviewer
):
    demo_items_submit(demo, count=6, seed=21)
    with transaction.atomic():  # the route step's transaction, in which tasks open
        for item in Item.objects.order_by("pk"):
            review_task_open(item=item, queue_slug=demo.queue.slug)
    reviewer_profile_set(user=reviewer, acting_user=manager, max_claims=2)

    page = sign_in("maria", start=f"/board/queues/{demo.queue.pk}/")
    page.locator('select[name="state"]').select_option("open")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url(re.compile(r"state=open"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(6)
    assert not axe_problems(page)

    for n in range(3):
        rows.nth(n).locator('input[name="task"]').check()
    page.locator('select[name="assignee"]').select_option(["alice"])
    page.get_by_role("button", name="Preview assignment").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Assign: what will happen")
    expect(page.get_by_test_id("plan-summary")).to_have_text(
        "3 tasks selected: 2 will change, 1 will be skipped"
    )
    expect(page.get_by_test_id("per-reviewer")).to_have_text("alice: 2 tasks")
    expect(page.get_by_test_id("skipped")).to_have_text("1 over the chosen reviewers' caps")
    expect(page.get_by_test_id("caps")).to_contain_text("holds 0 of a personal cap of 2")
    assert not axe_problems(page)
    assert not ReviewTask.objects.filter(status=TaskStatus.CLAIMED).exists()

    page.get_by_role("button", name="Confirm: assign 2 tasks").click()

    page.wait_for_url(re.compile(rf"/board/queues/{demo.queue.pk}/\?state=open$"))
    expect(page.get_by_role("status")).to_contain_text(
        "2 tasks assigned (alice: 2); 1 skipped: 1 over the chosen reviewers' caps."
    )
    assert ReviewTask.objects.filter(status=TaskStatus.CLAIMED, claimed_by=reviewer).count() == 2
    expect(rows).to_have_count(4)  # the open ones left
