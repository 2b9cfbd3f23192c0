"""The reviewer's keyboard-first path in a real browser: three reviews, the "?" overlay, a skip,
and the heartbeat that keeps the claim while the page is open. No mouse after signing in."""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from reviewapp.review.reviews.models import Decision, ReviewTask, TaskSkip, TaskStatus
from workflows.demo.tickets import LABELS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TASK_URL = re.compile(r"/review/(\d+)/$")


def task_id_in(url: str) -> int:
    match = TASK_URL.search(url)
    assert match, f"not a review page: {url}"
    return int(match.group(1))


def next_task_after(page: Page, task_id: int) -> int:
    """Wait for the next task's panel, and for focus to land on its heading (after the swap
    settles), where the next keystroke starts."""
    page.wait_for_url(re.compile(rf"/review/(?!{task_id}/)\d+/$"))
    following = task_id_in(page.url)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"task {following}")
    expect(heading).to_be_focused()
    return following


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until ``target`` has focus, as a keyboard user walks the page."""
    handle = target.element_handle()
    for _ in range(limit):
        if page.evaluate("element => document.activeElement === element", handle):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} never took focus within {limit} Tab presses")


def review_next_by_keyboard(page: Page) -> int:
    tab_to(page, page.get_by_role("button", name="Review next"))
    page.keyboard.press("Enter")
    page.wait_for_url(TASK_URL)
    return task_id_in(page.url)


def other_label(task_id: int) -> str:
    model_label = ReviewTask.objects.get(pk=task_id).item.prediction.output["label"]
    return next(label for label in LABELS if label != model_label)


def test_a_reviewer_reviews_three_items_with_the_keyboard_alone(sign_in, routed_items, reviewer):
    assert len(routed_items(count=40)) >= 4
    page = sign_in("alice")
    first = review_next_by_keyboard(page)
    page.evaluate("window.stillTheSameDocument = true")

    # 1. Accept.
    page.keyboard.press("a")
    expect(page.get_by_label("Accept")).to_be_checked()
    page.keyboard.press("Enter")
    second = next_task_after(page, first)

    # 2. Correct: c puts the cursor in the label select, letters pick the label there, Tab
    # reaches the reasons, Space ticks one, Enter submits.
    label = other_label(second)
    page.keyboard.press("c")
    select = page.get_by_label("Right label")
    expect(select).to_be_focused()
    page.keyboard.type(label)
    expect(select).to_have_value(label)
    page.keyboard.press("Tab")
    reason = page.get_by_label("Model picked the wrong category")
    expect(reason).to_be_focused()
    page.keyboard.press("Space")
    expect(reason).to_be_checked()
    page.keyboard.press("Enter")
    third = next_task_after(page, second)

    # The "?" overlay opens over the task, takes focus, and gives it back on Escape.
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_be_focused()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    for key in ("a", "c", "r", "s", "Enter", "?"):
        expect(dialog.locator("dt kbd", has_text=re.compile(rf"^{re.escape(key)}$"))).to_have_count(
            1
        )
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("a")  # a shortcut under the overlay does nothing
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(heading).to_be_focused()
    expect(page.get_by_label("Accept")).to_be_checked()  # the default, untouched

    # 3. Reject: r, Tab to a rejection reason, Space, Enter.
    page.keyboard.press("r")
    expect(page.get_by_label("Reject")).to_be_checked()
    spam = page.get_by_label("Spam or not a support ticket")
    tab_to(page, spam)
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    fourth = next_task_after(page, third)

    assert page.evaluate("window.stillTheSameDocument") is True
    decisions = {d.task_id: d for d in Decision.objects.prefetch_related("reason_codes")}
    assert decisions[first].outcome == "accept"
    assert decisions[second].outcome == "correct"
    assert decisions[second].output == {"label": label}
    assert [code.code for code in decisions[second].reason_codes.all()] == ["wrong-category"]
    assert decisions[third].outcome == "reject"
    assert [code.code for code in decisions[third].reason_codes.all()] == ["spam"]
    assert set(decisions) == {first, second, third}
    assert ReviewTask.objects.get(pk=fourth).claimed_by == reviewer


def test_a_reviewer_skips_with_a_reason_by_keyboard(sign_in, routed_items, reviewer):
    routed_items(count=40)
    page = sign_in("alice")
    first = review_next_by_keyboard(page)

    # s opens the prompt; Escape closes it again without skipping.
    page.keyboard.press("s")
    reason = page.get_by_label("Why skip it?")
    expect(reason).to_be_focused()
    page.keyboard.press("Escape")
    expect(reason).to_be_hidden()

    page.keyboard.press("s")
    expect(reason).to_be_focused()
    page.keyboard.type("Needs more context")
    page.keyboard.press("Enter")
    second = next_task_after(page, first)

    expect(page.get_by_role("status")).to_contain_text("Task skipped")
    assert ReviewTask.objects.get(pk=first).status == TaskStatus.OPEN
    skipped = TaskSkip.objects.get()
    assert (skipped.task_id, skipped.reviewer, skipped.reason) == (
        first,
        reviewer,
        "Needs more context",
    )
    assert ReviewTask.objects.get(pk=second).claimed_by == reviewer


def test_the_open_page_keeps_extending_its_claim(sign_in, routed_items):
    routed_items(count=10)
    page = sign_in("alice")
    # The page's clock, not the server's: a minute passes in the browser in an instant.
    page.clock.install()
    task_id = review_next_by_keyboard(page)
    claimed_until = ReviewTask.objects.get(pk=task_id).lease_expires_at

    with page.expect_response(re.compile(rf"/review/{task_id}/heartbeat$")) as heartbeat:
        page.clock.run_for(61_000)

    assert heartbeat.value.status == 200
    extended = ReviewTask.objects.get(pk=task_id).lease_expires_at
    assert extended > claimed_until
    expect(page.get_by_test_id("lease").locator("time")).to_have_attribute(
        "datetime", extended.isoformat()
    )
