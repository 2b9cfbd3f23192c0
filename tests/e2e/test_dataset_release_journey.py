"""The ML engineer's release: requested in two formats, approved once by a colleague, then read
on its own page (manifest, checksums, lineage, the change since the last release) and downloaded
under its release name."""

import hashlib

import pytest
from playwright.sync_api import expect

from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.review.corrections.services import reviewer_pseudonym
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from workflows.demo.tickets import LABELS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def decide(demo, reviewer, outcome):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    extra = {}
    if outcome == "correct":
        model_label = task.item.prediction.output["label"]
        extra = {
            "output": {"label": next(label for label in LABELS if label != model_label)},
            "reason_codes": ["wrong-category"],
        }
    elif outcome == "reject":
        extra = {"reason_codes": ["ambiguous-text"]}
    review_task_decide(
        task=task, reviewer=reviewer, claim_token=task.claim_token, outcome=outcome, **extra
    )


def test_the_ml_engineer_requests_a_release_in_two_formats_and_reads_its_page(
    sign_in, routed_items, demo, reviewer, requester, approver
):
    routed_items(count=40)
    for outcome in ("correct", "accept", "reject"):
        decide(demo, reviewer, outcome)
    first = dataset_export_request(workflow=demo.workflow, requested_by=requester)
    dataset_export_approve(export=first, approver=approver)
    dataset_export_build(export_id=first.pk)  # v1: the correction and the acceptance
    for outcome in ("accept", "correct"):
        decide(demo, reviewer, outcome)

    mel = sign_in("mel", start="/datasets/")
    formats = mel.get_by_test_id("formats")
    expect(formats.get_by_label("JSON Lines", exact=True)).to_be_checked()
    formats.get_by_label("CSV (spreadsheet-safe)").check()
    expect(mel.get_by_label("Decision")).to_have_value("human_verified")
    mel.get_by_label("What is it for?").fill("Retrain the triage model on verified labels.")
    mel.get_by_role("button", name="Request export").click()
    expect(mel.get_by_role("status")).to_contain_text("2 formats")
    export = DatasetExport.objects.exclude(pk=first.pk).get()
    assert export.all_formats == ["jsonl", "csv"]

    ines = sign_in("ines", start="/datasets/")
    ines.locator(f"tr[data-export='{export.pk}']").get_by_role("button", name="Approve").click()
    expect(ines.get_by_role("status")).to_contain_text("approved")
    # No worker runs beside the live server: build it here, as the worker's task would.
    built = dataset_export_build(export_id=export.pk)
    assert built.status == ExportStatus.READY

    mel.reload()
    mel.get_by_role("link", name="Release v2").click()
    expect(mel.get_by_role("heading", level=1)).to_contain_text("release v2")
    expect(mel.get_by_test_id("rows")).to_have_text("4")
    checksums = mel.get_by_test_id("sha256")
    expect(checksums).to_have_count(2)
    expect(mel.get_by_test_id("lineage-outcomes")).to_contain_text("Accept")
    expect(mel.get_by_test_id("lineage-reviewers")).to_contain_text(reviewer_pseudonym(reviewer))
    expect(mel.get_by_test_id("approvals")).to_contain_text("ines")
    expect(mel.get_by_test_id("diff-added")).to_have_text("2")
    expect(mel.get_by_test_id("diff-removed")).to_have_text("0")
    expect(mel.get_by_test_id("diff-changed")).to_have_text("0")
    expect(mel.locator("main")).to_contain_text("Retrain the triage model on verified labels.")

    with mel.expect_download() as download_info:
        mel.get_by_role("link", name="ticket-triage-v2-verified.csv").click()
    download = download_info.value
    assert download.suggested_filename == "ticket-triage-v2-verified.csv"
    digest = hashlib.sha256(download.path().read_bytes()).hexdigest()
    csv_file = built.files.get(format="csv")
    assert digest == csv_file.sha256
    expect(mel.get_by_test_id("release-files")).to_contain_text(digest)
