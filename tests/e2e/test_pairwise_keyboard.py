"""A reviewer compares two answers in a real browser and picks a side with the keyboard."""

import re

import pytest
from playwright.sync_api import expect

from reviewapp.review.pairwise.models import Comparison, Side

# The shadow-answer fixtures of the pairwise tests, shared with this browser test.
from tests.review.pairwise.conftest import compared, pairwise_queue  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_picks_b_with_the_keyboard(sign_in, compared, pairwise_queue):  # noqa: F811
    page = sign_in("alice")
    page.get_by_role("row", name=re.compile(pairwise_queue.name)).get_by_role(
        "button", name="Review next"
    ).click()
    page.wait_for_url(re.compile(r"/pairwise/\d+/$"))
    task_id = int(re.search(r"/pairwise/(\d+)/$", page.url).group(1))
    html = page.content()
    assert "2-noise" not in html and "ticket-triage@" not in html  # versions hidden
    expect(page.get_by_test_id("output-a")).to_be_visible()
    expect(page.get_by_test_id("output-b")).to_be_visible()

    page.locator("body").press("b")
    expect(page.get_by_label("B is better")).to_be_checked()
    expect(page.get_by_label("Why?")).to_be_focused()
    page.keyboard.type("B names the right team")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/(pairwise/(?!{task_id}/)\d+/|queues/)$"))

    comparison = Comparison.objects.get(task_id=task_id)
    assert comparison.choice == Side.B
    assert comparison.reason == "B names the right team"
    assert comparison.time_spent_ms is not None
