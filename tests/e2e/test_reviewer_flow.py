"""The reviewer's and the ML engineer's main paths, in a real browser against the live server."""

import json
import re

import pytest
from playwright.sync_api import expect

from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.datasets.services import dataset_export_build
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from workflows.demo.tickets import LABELS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TASK_URL = re.compile(r"/review/(\d+)/$")


def task_id_in(url: str) -> int:
    match = TASK_URL.search(url)
    assert match, f"not a review page: {url}"
    return int(match.group(1))


def other_label(task_id: int) -> str:
    model_label = ReviewTask.objects.get(pk=task_id).item.prediction.output["label"]
    return next(label for label in LABELS if label != model_label)


def open_first_task(page) -> int:
    page.get_by_role("button", name="Review next").click()
    page.wait_for_url(TASK_URL)
    return task_id_in(page.url)


def test_a_reviewer_corrects_an_item_and_lands_on_the_next_task_without_a_reload(
    sign_in, routed_items, reviewer
):
    assert len(routed_items(count=40)) >= 2
    page = sign_in("alice")
    first = open_first_task(page)
    label = other_label(first)
    # A full page load would wipe this; an htmx swap keeps it.
    page.evaluate("window.stillTheSameDocument = true")

    page.get_by_label("Correct").check()
    page.get_by_label("Right label").select_option(label)
    page.get_by_label("Model picked the wrong category").check()
    page.get_by_role("button", name="Submit and next").click()

    page.wait_for_url(re.compile(rf"/review/(?!{first}/)\d+/$"))
    following = task_id_in(page.url)
    assert page.evaluate("window.stillTheSameDocument") is True
    expect(page.get_by_role("status")).to_contain_text("Decision saved")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"task {following}")
    expect(page).to_have_title(re.compile(rf"Review task {following}\b"))
    # Focus moves to the new task so keyboard and screen-reader users start from its top.
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    correction = Correction.objects.get(decision__task_id=first)
    assert correction.human_output == {"label": label}
    assert correction.reason_codes == ["wrong-category"]
    next_task = ReviewTask.objects.get(pk=following)
    assert (next_task.status, next_task.claimed_by) == (TaskStatus.CLAIMED, reviewer)


def test_a_correction_without_a_reason_is_refused_in_the_page(sign_in, routed_items):
    routed_items(count=40)
    page = sign_in("alice")
    task_id = open_first_task(page)
    page.evaluate("window.stillTheSameDocument = true")

    page.get_by_label("Correct").check()
    page.get_by_label("Right label").select_option(other_label(task_id))
    page.get_by_role("button", name="Submit and next").click()

    error = page.get_by_test_id("reason-error")
    expect(error).to_have_text("Give at least one reason for a correction or a rejection.")
    expect(error).to_be_visible()
    assert page.evaluate("window.stillTheSameDocument") is True
    assert task_id_in(page.url) == task_id
    expect(page.get_by_label("Model picked the wrong category")).to_be_focused()
    # What the reviewer chose survives the refusal, so only the reason is left to add.
    expect(page.get_by_label("Correct")).to_be_checked()
    expect(page.get_by_label("Right label")).to_have_value(other_label(task_id))
    assert not Decision.objects.filter(task_id=task_id).exists()


def test_a_reviewer_accepts_with_the_keyboard_alone(sign_in, routed_items):
    routed_items(count=40)
    page = sign_in("alice")
    first = open_first_task(page)

    page.keyboard.press("a")
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(rf"/review/(?!{first}/)\d+/$"))
    assert Decision.objects.get(task_id=first).outcome == "accept"
    # The next task is ready for the next keystroke: no click needed in between.
    second = task_id_in(page.url)
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/review/(?!{second}/)\d+/$"))
    assert Decision.objects.get(task_id=second).outcome == "accept"


def test_an_export_is_requested_approved_by_a_colleague_built_and_downloaded(
    sign_in, routed_items, demo, reviewer
):
    routed_items(count=40)
    corrected = 3
    for _ in range(corrected):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome="correct",
            output={"label": other_label(task.pk)},
            reason_codes=["wrong-category"],
        )
    mel = sign_in("mel")
    mel.goto("/datasets/")
    # The preview comes in place (htmx) before anything is requested.
    mel.get_by_role("button", name="Preview").click()
    expect(mel.get_by_test_id("preview-rows")).to_have_text(f"{corrected} rows")
    expect(mel.get_by_test_id("preview-row")).to_have_count(corrected)
    assert not DatasetExport.objects.exists()
    mel.get_by_role("button", name="Request export").click()
    expect(mel.get_by_role("status")).to_contain_text("requested")
    export = DatasetExport.objects.get()
    row = mel.locator(f"tr[data-export='{export.pk}']")
    expect(row.get_by_test_id("export-status")).to_have_text("Requested")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)

    ines = sign_in("ines")
    ines.goto("/datasets/")
    ines.locator(f"tr[data-export='{export.pk}']").get_by_role("button", name="Approve").click()
    expect(ines.get_by_role("status")).to_contain_text("approved")

    mel.reload()
    expect(row.get_by_test_id("export-status")).to_have_text("Approved")
    # No worker runs beside the live server: build it here, as the worker's task would.
    dataset_export_build(export_id=export.pk)
    # The page polls while an export is being built, so the change shows without a reload.
    expect(row.get_by_test_id("export-status")).to_have_text("Ready")
    with mel.expect_download() as download_info:
        row.get_by_role("link", name="Download").click()
    download = download_info.value
    rows = [json.loads(line) for line in download.path().read_text().splitlines()]
    assert len(rows) == corrected
    assert {row["reason_codes"][0] for row in rows} == {"wrong-category"}
    assert DatasetExport.objects.get().status == ExportStatus.READY
