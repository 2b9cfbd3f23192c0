"""A reviewer's day with the keyboard alone: land on My work, claim, pick a label by its number,
Enter from the history's disclosure and from the label select, a double Enter that must not
decide the next task unseen, and Undo of the decision just made."""

import re

import pytest
from playwright.sync_api import Page, expect

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from tests.e2e.test_keyboard_review import next_task_after, review_next_by_keyboard, tab_to

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Long enough that the test's own Enter, right after a task shows, falls inside it on a busy
# machine; the product's default is 400 ms.
DWELL_MS = 1000


def dwell_over(page: Page) -> None:
    """Wait until Enter counts on the task shown (the page marks it)."""
    expect(page.locator("form.decision")).to_have_attribute("data-dwell-over", "1")


def label_number(page: Page, *, not_label: str) -> tuple[int, str]:
    """The number key of a label other than ``not_label``, as the page lists them."""
    options = page.locator("select[data-label-keys] option:not([value=''])").all_inner_texts()
    label = next(option for option in options if option != not_label)
    return options.index(label) + 1, label


def test_a_reviewer_works_with_the_keyboard_alone(sign_in, routed_items, reviewer, settings):
    settings.REVIEWAPP_REVIEW_MIN_DWELL_MS = DWELL_MS
    assert len(routed_items(count=40)) >= 4
    page = sign_in("alice", start=None)

    # A reviewer lands on My work, and the top bar offers nothing they cannot use.
    expect(page).to_have_url(re.compile(r"/my-work/$"))
    main_nav = page.get_by_role("navigation", name="Main")
    for hidden in ("Board", "Datasets", "Pipeline", "Audit"):
        expect(main_nav.get_by_role("link", name=hidden)).to_have_count(0)
    expect(main_nav.get_by_role("link", name="My work")).to_be_visible()

    # Claim; the workflow's guidelines stand beside the task.
    first = review_next_by_keyboard(page)
    expect(page.get_by_test_id("guidelines")).to_contain_text("Pick the team")
    model_label = ReviewTask.objects.get(pk=first).item.prediction.output["label"]

    # The history opened with Space; a number picks a label (Correct, since it is not the
    # model's), / finds a reason and Enter ticks it; back on the history, Enter submits.
    summary = page.locator("details.history summary")
    tab_to(page, summary)
    page.keyboard.press("Space")
    expect(page.locator("details.history")).to_have_attribute("open", "")
    number, label = label_number(page, not_label=model_label)
    page.keyboard.press(str(number))
    expect(page.locator("select[data-label-keys]")).to_have_value(label)
    expect(page.get_by_label("Correct")).to_be_checked()
    page.keyboard.press("/")
    page.keyboard.type("wrong category")
    page.keyboard.press("Enter")
    reason = page.get_by_label("Model picked the wrong category")
    expect(reason).to_be_checked()
    summary.focus()  # the history's disclosure again, where Enter used to toggle it
    dwell_over(page)
    page.keyboard.press("Enter")
    second = next_task_after(page, first)
    decided = Decision.objects.get(task_id=first)
    assert (decided.outcome, decided.output) == ("correct", {"label": label})
    assert [code.code for code in decided.reason_codes.all()] == ["wrong-category"]

    # A double Enter: the second one lands on a task shown a moment ago and is ignored.
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("dwell-hint")).to_be_visible()
    assert ReviewTask.objects.get(pk=second).status == TaskStatus.CLAIMED
    assert not Decision.objects.filter(task_id=second).exists()

    # u takes the decision back: the first task is the reviewer's to decide again.
    page.keyboard.press("u")
    page.wait_for_url(re.compile(rf"/review/{first}/$"))
    expect(page.get_by_test_id("undone")).to_be_visible()
    assert not Decision.objects.filter(task_id=first).exists()
    assert ReviewTask.objects.get(pk=first).claimed_by == reviewer
    assert AuditEvent.objects.filter(
        action="task.decision_undone", object_id=str(first), actor=reviewer
    ).exists()

    # Decided again, as an accept: the reasons ticked before are not sent with it.
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    page.keyboard.press("a")
    dwell_over(page)
    page.keyboard.press("Enter")
    assert next_task_after(page, first) == second  # the task held meanwhile comes back
    redecided = Decision.objects.get(task_id=first)
    assert redecided.outcome == "accept"
    assert list(redecided.reason_codes.all()) == []

    # c puts the cursor in the label select; a number picks there and Enter submits from it.
    second_label = ReviewTask.objects.get(pk=second).item.prediction.output["label"]
    page.keyboard.press("c")
    select = page.locator("select[data-label-keys]")
    expect(select).to_be_focused()
    number, label = label_number(page, not_label=second_label)
    page.keyboard.press(str(number))
    expect(select).to_have_value(label)
    dwell_over(page)
    page.keyboard.press("Enter")
    # Submitted: the server asks for the reason a correction needs, and focus goes to it.
    expect(page.get_by_test_id("reason-error")).to_be_visible()
    first_reason = page.get_by_label("Model picked the wrong category")
    expect(first_reason).to_be_focused()
    page.keyboard.press("Space")
    dwell_over(page)
    page.keyboard.press("Enter")
    next_task_after(page, second)
    assert Decision.objects.get(task_id=second).output == {"label": label}
