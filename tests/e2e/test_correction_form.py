"""Correcting through the form generated from the output schema, in a real browser: the live
changes panel, the per-field confidence flag, the reason picker found by typing, and span and
multi-label fields (a second, small workflow defined here, not in the demo)."""

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from reviewapp.review.corrections.models import Correction
from reviewapp.review.corrections.services import reason_codes_sync
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_create
from workflows.definitions import ReasonEntry
from workflows.demo.definition import TICKET_TRIAGE
from workflows.demo.tickets import LABELS
from workflows.models import Item, ItemStatus, Prediction, StepRun, StepRunStatus
from workflows.services import workflow_publish

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TASK_URL = re.compile(r"/review/(\d+)/$")
TRIP = "Alice flew from Paris to Lyon"
ENTITIES_DEFINITION = {
    "input_schema": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "minLength": 1}},
    },
    "output_schema": {
        "type": "object",
        "required": ["topics", "entities"],
        "additionalProperties": False,
        "properties": {
            "topics": {
                "title": "Topics",
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": ["travel", "refund", "complaint"]},
            },
            "entities": {
                "title": "Named entities",
                "type": "array",
                "x-span-of": "text",
                "items": {
                    "type": "object",
                    "required": ["start", "end", "label"],
                    "additionalProperties": False,
                    "properties": {
                        "start": {"type": "integer", "minimum": 0},
                        "end": {"type": "integer", "minimum": 1},
                        "label": {"enum": ["PERSON", "PLACE"]},
                        "text": {"type": "string"},
                    },
                },
            },
        },
    },
    "labels": ["travel", "refund", "complaint"],
    "text_fields": ["text"],
    "model": TICKET_TRIAGE.definition["model"],
    "routing": {"threshold": 0.8},
    "queue": "entity-review",
}


def task_id_in(url: str) -> int:
    match = TASK_URL.search(url)
    assert match, f"not a review page: {url}"
    return int(match.group(1))


def test_a_reviewer_corrects_a_label_sees_the_changes_and_finds_a_reason_by_typing(
    sign_in, routed_items, reviewer
):
    assert len(routed_items(count=40)) >= 2
    page = sign_in("alice")
    page.get_by_role("button", name="Review next").click()
    page.wait_for_url(TASK_URL)
    first = task_id_in(page.url)
    model_label = ReviewTask.objects.get(pk=first).item.prediction.output["label"]
    label = next(other for other in LABELS if other != model_label)
    page.evaluate("window.stillTheSameDocument = true")

    page.keyboard.press("c")
    select = page.get_by_label("Right label")
    expect(select).to_be_focused()
    expect(select).to_have_value(model_label)  # prefilled with the model's output
    expect(page.get_by_test_id("no-changes")).to_be_visible()
    select.select_option(label)
    change = page.get_by_test_id("change-label")
    expect(change.locator("del")).to_have_text(model_label)
    expect(change.locator("ins")).to_have_text(label)

    # "/" jumps from the field to the reason filter; typing narrows the list; Enter ticks the
    # first match without submitting; Enter again submits.
    page.keyboard.press("/")
    finder = page.locator(".when-correct").get_by_label("Find a reason")
    expect(finder).to_be_focused()
    page.keyboard.type("close call")
    expect(page.locator(".when-correct li.reason:visible")).to_have_count(1)
    page.keyboard.press("Enter")
    near_miss = page.get_by_label("Close call between two categories")
    expect(near_miss).to_be_checked()
    expect(near_miss).to_be_focused()
    assert Correction.objects.count() == 0
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(rf"/review/(?!{first}/)\d+/$"))
    assert page.evaluate("window.stillTheSameDocument") is True
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    correction = Correction.objects.get(decision__task_id=first)
    assert correction.human_output == {"label": label}
    assert correction.reason_codes == ["wrong-category/near-miss"]
    assert correction.diff == {"label": {"before": model_label, "after": label}}


@pytest.fixture
def entity_task(demo, reviewer):
    """A task of a second workflow whose output has a multi-label and a span field, claimed by
    alice. The model output and its per-field confidence are stored as the pipeline would."""
    workflow = workflow_publish(
        slug="trip-entities",
        name="Trip entities",
        team=demo.queue.team,
        definition=ENTITIES_DEFINITION,
    )
    queue_create(team=demo.queue.team, workflow=workflow, slug="entity-review", name="Entities")
    with transaction.atomic():
        reason_codes_sync(
            workflow=workflow,
            codes=[
                ReasonEntry("missed-entity", "Model missed an entity", "both", None),
                ReasonEntry("wrong-topic", "Wrong topic", "correct", None),
            ],
        )
        item = Item.objects.create(
            workflow=workflow,
            workflow_version=workflow.current_version,
            status=ItemStatus.AWAITING_REVIEW,
            input={"text": TRIP},
            request_hash="trip",
        )
        output = {
            "topics": ["complaint"],
            "entities": [{"start": 0, "end": 5, "label": "PERSON", "text": "Alice"}],
        }
        Prediction.objects.create(
            item=item,
            model_version=demo.model_version,
            output=output,
            confidence=0.55,
            latency_ms=1.0,
        )
        StepRun.objects.create(
            item=item,
            step="infer",
            attempt=1,
            status=StepRunStatus.SUCCEEDED,
            started_at=item.created_at,
            output={"field_confidence": {"topics": 0.55, "entities": 0.97}},
        )
        review_task_open(item=item, queue_slug="entity-review")
    return review_task_claim(queue=workflow.queues.get(), reviewer=reviewer)


def test_a_reviewer_marks_spans_by_selecting_and_by_typing_and_ticks_a_label(sign_in, entity_task):
    page = sign_in("alice")
    page.goto(f"/review/{entity_task.pk}/")
    page.evaluate("window.stillTheSameDocument = true")

    # The unsure field is flagged in words, not by colour alone.
    topics = page.locator(".output-field[data-field=topics]")
    expect(topics).to_contain_text("Low confidence: 55%")
    expect(page.locator(".output-field[data-field=entities]")).to_contain_text("97% confident")

    page.keyboard.press("c")
    expect(page.get_by_role("checkbox", name="travel")).to_be_focused()  # the unsure field
    page.get_by_role("checkbox", name="travel").check()
    page.get_by_role("checkbox", name="complaint").uncheck()
    expect(page.get_by_test_id("change-topics").locator("ins")).to_have_text("travel")

    # With the mouse: select "Paris" in the shown input, pick a label, add it.
    page.evaluate(
        """() => {
            const source = document.querySelector("[data-span-source]");
            const text = source.lastChild;  // after the mark on "Alice"
            const range = document.createRange();
            const at = text.textContent.indexOf("Paris");
            range.setStart(text, at);
            range.setEnd(text, at + 5);
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
        }"""
    )
    phrase = page.get_by_label("Text to mark")
    expect(phrase).to_have_value("Paris")
    page.get_by_label("Its label").select_option("PLACE")
    page.get_by_role("button", name="Add span").click()
    # Without the mouse: type the text, Enter adds it.
    expect(phrase).to_be_focused()
    page.keyboard.type("Lyon")
    page.keyboard.press("Enter")
    expect(page.locator("[data-span-source] mark")).to_have_text(["Alice", "Paris", "Lyon"])
    expect(page.get_by_label("Start of span 1")).to_have_value("0")
    expect(page.get_by_test_id("change-entities").locator("ins")).to_contain_text(
        "PLACE “Lyon” 25-29"
    )

    page.locator(".when-correct").get_by_label("Model missed an entity").check()
    page.get_by_role("button", name="Submit and next").click()

    expect(page.get_by_test_id("empty-queue")).to_be_visible()
    assert page.evaluate("window.stillTheSameDocument") is True
    correction = Correction.objects.get(decision__task_id=entity_task.pk)
    assert correction.human_output == {
        "topics": ["travel"],
        "entities": [
            {"start": 0, "end": 5, "label": "PERSON", "text": "Alice"},
            {"start": 16, "end": 21, "label": "PLACE", "text": "Paris"},
            {"start": 25, "end": 29, "label": "PLACE", "text": "Lyon"},
        ],
    }
    assert correction.reason_codes == ["missed-entity"]


def test_a_span_row_out_of_the_text_is_refused_next_to_the_field(sign_in, entity_task):
    page = sign_in("alice")
    page.goto(f"/review/{entity_task.pk}/")

    page.get_by_label("Correct").check()
    # Within the browser's min/max, but ending before it starts: only the server can tell.
    page.get_by_label("Start of span 1").fill("6")
    page.locator(".when-correct").get_by_label("Model missed an entity").check()
    page.get_by_role("button", name="Submit and next").click()

    error = page.get_by_test_id("field-error-entities")
    expect(error).to_contain_text(f"Span 1: needs 0 ≤ start < end ≤ {len(TRIP)}")
    # Nothing the reviewer did is lost.
    expect(page.get_by_label("Start of span 1")).to_have_value("6")
    expect(page.locator(".when-correct").get_by_label("Model missed an entity")).to_be_checked()
    assert not Correction.objects.exists()
