"""A manager changes a queue's SLA target and a claim weight from the board, in a real browser."""

import pytest
from playwright.sync_api import expect

from reviewapp.review.reviews.models import Queue
from reviewapp.review.sla.models import SlaPolicy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_manager_changes_the_sla_target_and_a_claim_weight(sign_in, demo):
    page = sign_in("maria")
    page.goto("/board/")
    page.locator(f'[data-queue="{demo.queue.slug}"]').get_by_role("link", name="Settings").click()
    page.wait_for_url(f"**/board/queues/{demo.queue.pk}/settings/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{demo.queue.name}: settings")
    page.evaluate("window.stillTheSameDocument = true")

    sla = page.locator("#sla")
    sla.get_by_label("Target (minutes)").fill("90")
    sla.get_by_role("button", name="Save SLA policy").click()
    expect(page.locator("#sla").get_by_role("status")).to_have_text("SLA policy saved.")
    expect(page.get_by_test_id("current-policy")).to_contain_text("within 90 minutes")

    # A refused weight is shown next to its field, with what was typed.
    claims = page.locator("#claims")
    claims.get_by_label("Priority weight").fill("5000")
    claims.get_by_role("button", name="Save claim settings").click()
    expect(page.locator("#claims .field-error")).to_have_text("Give a weight from 0 to 1000.")
    expect(page.locator("#claims").get_by_label("Priority weight")).to_have_value("5000")

    page.locator("#claims").get_by_label("Priority weight").fill("3.5")
    page.locator("#claims").get_by_role("button", name="Save claim settings").click()
    expect(page.locator("#claims").get_by_role("status")).to_have_text("Claim settings saved.")
    assert page.evaluate("window.stillTheSameDocument") is True  # htmx swapped the sections

    assert SlaPolicy.objects.get(queue=demo.queue).target_minutes == 90
    assert Queue.objects.get(pk=demo.queue.pk).priority_weight == 3.5
    page.reload()
    expect(page.locator("#sla").get_by_label("Target (minutes)")).to_have_value("90")
    expect(page.locator("#claims").get_by_label("Priority weight")).to_have_value("3.5")
