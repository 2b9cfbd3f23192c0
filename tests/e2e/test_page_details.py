"""Details a person notices on every page: numbers aligned, an icon, no console errors, and a
refused form's messages on screen."""

import re

import pytest
from playwright.sync_api import expect

from reviewapp.review.reviews.models import ReviewTask
from workflows.demo.tickets import LABELS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_numbers_in_tables_are_right_aligned_and_the_icon_loads(sign_in, routed_items):
    routed_items(count=20)
    page = sign_in("alice")
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto("/queues/")
    open_count = page.get_by_test_id("open-count").first
    assert open_count.evaluate("cell => getComputedStyle(cell).textAlign") == "right"
    header = page.locator("th.num").first
    assert header.evaluate("cell => getComputedStyle(cell).textAlign") == "right"
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert icon is not None and page.request.get(icon).status == 200
    assert page.request.get("/favicon.ico").status == 200  # pages that name no icon
    assert missing == []


def test_the_changes_panel_updates_without_console_errors(sign_in, routed_items):
    routed_items(count=20)
    page = sign_in("alice")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.get_by_role("button", name="Review next").click()
    page.wait_for_url(re.compile(r"/review/(\d+)/$"))
    task = ReviewTask.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    model_label = task.item.prediction.output["label"]
    page.keyboard.press("c")
    select = page.get_by_label("Right label")
    other = next(label for label in LABELS if label != model_label)
    select.select_option(other)
    expect(page.get_by_test_id("change-label").locator("ins")).to_have_text(other)
    select.select_option(model_label)
    expect(page.get_by_test_id("no-changes")).to_be_visible()
    assert problems == []


def test_a_refused_calendar_shows_its_error_on_screen_and_focuses_the_field(sign_in, demo):
    page = sign_in("maria")
    page.set_viewport_size({"width": 1000, "height": 500})
    page.goto(f"/board/queues/{demo.queue.pk}/settings/")
    calendar = page.locator("#calendar")
    calendar.get_by_label("Name", exact=True).fill("Desk")
    calendar.get_by_label("Monday", exact=True).fill("9-17")
    calendar.get_by_role("button", name="Save calendar").click()
    error = page.locator("#calendar-hours_mon-error")
    expect(error).to_have_text("“9-17” is not a range of two times HH:MM.")
    expect(error).to_be_in_viewport()
    expect(page.locator("#calendar-hours_mon")).to_be_focused()
