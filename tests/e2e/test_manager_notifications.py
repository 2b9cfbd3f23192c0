"""A manager hears of a breach through the bell, follows it to the queue, and sees who of the
queue's reviewers is at work."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.sla.sweep import sla_sweep

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_manager_follows_a_breach_from_the_bell_and_sees_an_active_reviewer(
    sign_in, routed_items, demo
):
    routed_items(count=12)
    task = ReviewTask.objects.filter(queue=demo.queue, status=TaskStatus.OPEN).first()
    assert task is not None
    # The task's deadline has passed; the beat's sweep notices.
    ReviewTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert sla_sweep().breached == 1

    review = sign_in("alice")  # signing in is alice's sign of life
    review.get_by_role("button", name="Review next").first.click()
    review.wait_for_url(re.compile(r"/review/\d+/$"))

    board = sign_in("maria", start="/board/")
    bell = board.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(bell.get_by_test_id("unread-count")).to_have_text("1")
    bell.click()
    board.wait_for_url("**/notifications/")
    notification = board.get_by_test_id("notification")
    expect(notification).to_contain_text(f"Task {task.pk} in {demo.queue.name} is past due")
    notification.get_by_role("link", name=f"Tasks of {demo.queue.name}").click()
    board.wait_for_url(re.compile(rf"/board/queues/{demo.queue.pk}/\?state=breached$"))
    expect(board.locator(f'tr[data-task="{task.pk}"]')).to_be_visible()

    board.goto("/notifications/")
    board.get_by_role("button", name=re.compile(r"^Mark read")).click()
    expect(board.get_by_test_id("unread-count")).to_have_count(0)

    board.goto("/board/")
    board.locator(f'[data-queue="{demo.queue.slug}"]').get_by_role(
        "link", name="Reviewers", exact=True
    ).click()
    board.wait_for_url(re.compile(rf"/board/queues/{demo.queue.pk}/reviewers/$"))
    alice = board.locator('tr[data-reviewer="alice"]')
    expect(alice.get_by_test_id("presence")).to_have_text("Active now")
    expect(alice.get_by_test_id("held")).to_have_text("1")
