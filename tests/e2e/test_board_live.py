"""The manager's SLA board follows decisions made elsewhere without a reload."""

import re

import pytest
from playwright.sync_api import expect

from reviewapp.review.reviews.models import ReviewTask, TaskStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The board polls every 5 s; allow two polls and some slack.
POLL_TIMEOUT_MS = 15_000


def test_the_board_changes_after_a_reviewer_decides_in_another_browser(sign_in, routed_items, demo):
    routed_items(count=40)
    open_before = ReviewTask.objects.filter(queue=demo.queue, status=TaskStatus.OPEN).count()
    assert open_before >= 2
    board = sign_in("maria")
    board.goto("/board/")
    board.evaluate("window.stillTheSameDocument = true")
    queue = board.locator(f'[data-queue="{demo.queue.slug}"]')
    expect(queue.get_by_test_id("throughput")).to_have_text("0")
    expect(queue.get_by_test_id("open")).to_have_text(str(open_before))

    review = sign_in("alice")
    review.get_by_role("button", name="Review next").click()
    review.wait_for_url(re.compile(r"/review/\d+/$"))
    review.get_by_label("Accept").check()
    review.get_by_role("button", name="Submit and next").click()
    expect(review.get_by_role("status")).to_contain_text("Decision saved")

    # One decided, one more claimed by "Submit and next": two fewer open tasks.
    expect(queue.get_by_test_id("throughput")).to_have_text("1", timeout=POLL_TIMEOUT_MS)
    expect(queue.get_by_test_id("open")).to_have_text(str(open_before - 2), timeout=POLL_TIMEOUT_MS)
    expect(queue.get_by_test_id("claimed")).to_have_text("1", timeout=POLL_TIMEOUT_MS)
    expect(queue.get_by_test_id("override-rate")).to_have_text("0%")
    assert board.evaluate("window.stillTheSameDocument") is True
    assert board.url.endswith("/board/")
