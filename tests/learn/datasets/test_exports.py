"""Correction dataset exports: request -> approval by someone else -> build -> download."""

import hashlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.datasets.services import dataset_export_build
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.support.files import export_path
from workflows.demo.tickets import LABELS

EXPORTS = "/api/v1/exports/"


@pytest.fixture
def corrections(routed_items, demo, reviewer):
    """Two corrections by alice, with different reasons."""
    routed = routed_items(count=10, seed=5)
    assert len(routed) >= 2, "the demo data must send at least two tickets to review"
    for reason in ("wrong-category", "ambiguous-text"):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        model_label = task.item.prediction.output["label"]
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome="correct",
            output={"label": next(label for label in LABELS if label != model_label)},
            reason_codes=[reason],
        )
    return list(Correction.objects.order_by("created_at", "id"))


@pytest.fixture
def requested(api, requester, corrections):
    response = api(requester).post(EXPORTS, {"workflow": "ticket-triage"}, format="json")
    assert response.status_code == 201, response.content
    return DatasetExport.objects.get(pk=response.json()["id"])


@pytest.fixture
def ready(api, approver, requested):
    assert api(approver).post(f"{EXPORTS}{requested.pk}/approve").status_code == 200
    export = dataset_export_build(export_id=requested.pk)
    assert export.status == ExportStatus.READY
    return export


def actions_on(export):
    return list(
        AuditEvent.objects.filter(object_type="datasets.datasetexport", object_id=str(export.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


# --- request and approval ---------------------------------------------------------------------


def test_it_records_a_request(requested, requester):
    assert requested.status == ExportStatus.REQUESTED
    assert requested.requested_by == requester
    assert requested.format == "jsonl"
    assert actions_on(requested) == ["export.requested"]


def test_the_requester_cannot_approve_their_own_export(api, requester, requested):
    response = api(requester).post(f"{EXPORTS}{requested.pk}/approve")

    assert response.status_code == 403
    assert "requester" in response.json()["detail"]
    requested.refresh_from_db()
    assert requested.status == ExportStatus.REQUESTED
    assert requested.decided_by is None
    assert actions_on(requested) == ["export.requested"]


def test_a_colleague_approves_and_the_build_is_enqueued_after_commit(
    api, approver, requested, django_capture_on_commit_callbacks, broker
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api(approver).post(f"{EXPORTS}{requested.pk}/approve")

    assert response.status_code == 200
    assert response.json()["status"] == ExportStatus.APPROVED
    assert response.json()["decided_by"] == approver.username
    assert len(callbacks) == 1
    assert broker() == [("datasets.build_export", [requested.pk])]
    assert actions_on(requested) == ["export.requested", "export.approved"]


def test_approving_twice_is_a_conflict(api, approver, requested):
    assert api(approver).post(f"{EXPORTS}{requested.pk}/approve").status_code == 200

    response = api(approver).post(f"{EXPORTS}{requested.pk}/approve")

    assert response.status_code == 409
    assert actions_on(requested) == ["export.requested", "export.approved"]


def test_approving_a_rejected_export_is_a_conflict(api, approver, requested):
    rejected = api(approver).post(
        f"{EXPORTS}{requested.pk}/reject", {"reason": "Too few rows"}, format="json"
    )
    assert rejected.status_code == 200
    assert rejected.json()["decision_reason"] == "Too few rows"

    response = api(approver).post(f"{EXPORTS}{requested.pk}/approve")

    assert response.status_code == 409
    requested.refresh_from_db()
    assert requested.status == ExportStatus.REJECTED


@pytest.mark.parametrize("body", [{}, {"reason": "   "}], ids=["missing", "blank"])
def test_rejecting_needs_a_reason(api, approver, requested, body):
    response = api(approver).post(f"{EXPORTS}{requested.pk}/reject", body, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    requested.refresh_from_db()
    assert requested.status == ExportStatus.REQUESTED
    assert actions_on(requested) == ["export.requested"]


def test_it_refuses_an_unknown_filter(api, requester, corrections):
    response = api(requester).post(
        EXPORTS, {"workflow": "ticket-triage", "filters": {"colour": "red"}}, format="json"
    )

    assert response.status_code == 400
    assert "filters.colour" in response.json()["errors"]
    assert not DatasetExport.objects.exists()


def test_it_refuses_a_filter_that_is_not_a_date(api, requester, corrections):
    response = api(requester).post(
        EXPORTS,
        {"workflow": "ticket-triage", "filters": {"created_after": "last week"}},
        format="json",
    )

    assert response.status_code == 400
    assert "filters.created_after" in response.json()["errors"]


# --- build and download -----------------------------------------------------------------------


def test_the_build_writes_one_labeled_example_per_correction(ready, corrections, demo, reviewer):
    rows = [json.loads(line) for line in export_path(ready).read_text().splitlines()]

    assert len(rows) == len(corrections) == ready.rows_total
    for row, correction in zip(rows, corrections, strict=True):
        assert row["item_id"] == correction.item_id
        assert row["input"] == correction.item.input
        assert row["model_output"] == correction.model_output
        assert row["human_output"] == correction.human_output
        assert row["human_output"] != row["model_output"]
        assert row["model_version"] == str(demo.model_version)
        assert row["reviewer"] == correction.reviewer_pseudonym
        assert row["reviewer"] not in (reviewer.username, str(reviewer.pk))
    assert [row["reason_codes"] for row in rows] == [["wrong-category"], ["ambiguous-text"]]
    assert "alice" not in export_path(ready).read_text()


def test_the_manifest_checksum_matches_the_file(ready, requester, approver):
    content = export_path(ready).read_bytes()

    assert ready.manifest["sha256"] == hashlib.sha256(content).hexdigest() == ready.sha256
    assert ready.manifest["rows"] == 2
    assert ready.manifest["requested_by"] == requester.username
    assert ready.manifest["approved_by"] == approver.username
    assert ready.size_bytes == len(content)
    assert actions_on(ready)[-2:] == ["export.building", "export.ready"]


def test_building_again_does_nothing(ready):
    assert dataset_export_build(export_id=ready.pk) is None
    assert actions_on(ready).count("export.ready") == 1


def test_the_requester_downloads_the_file_and_it_is_audited(api, requester, ready):
    response = api(requester).get(f"{EXPORTS}{ready.pk}/download")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == export_path(ready).read_bytes()
    assert "attachment" in response["Content-Disposition"]
    event = AuditEvent.objects.get(action="export.downloaded", object_id=str(ready.pk))
    assert event.actor == requester


def test_an_expired_link_no_longer_downloads(api, requester, ready):
    with time_machine.travel(ready.expires_at + timedelta(seconds=1), tick=False):
        response = api(requester).get(f"{EXPORTS}{ready.pk}/download")

    assert response.status_code == 409
    assert "expired" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_an_export_that_is_not_built_does_not_download(api, requester, requested):
    response = api(requester).get(f"{EXPORTS}{requested.pk}/download")

    assert response.status_code == 409


# --- other teams ------------------------------------------------------------------------------


def test_it_hides_exports_from_another_team(api, outsider, ready):
    client = api(outsider)

    assert client.get(f"{EXPORTS}{ready.pk}").status_code == 404
    assert client.post(f"{EXPORTS}{ready.pk}/approve").status_code == 404
    assert (
        client.post(f"{EXPORTS}{ready.pk}/reject", {"reason": "no"}, format="json").status_code
        == 404
    )
    assert client.get(f"{EXPORTS}{ready.pk}/download").status_code == 404
    assert client.get(EXPORTS).json() == {"exports": []}
    response = client.post(EXPORTS, {"workflow": "ticket-triage"}, format="json")
    assert response.status_code == 404
    assert DatasetExport.objects.count() == 1


def test_a_reviewer_may_not_request_an_export(api, reviewer, corrections):
    response = api(reviewer).post(EXPORTS, {"workflow": "ticket-triage"}, format="json")

    assert response.status_code == 404
    assert not DatasetExport.objects.exists()


# --- the datasets page ------------------------------------------------------------------------


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_datasets_page_tells_the_requester_to_wait_for_a_colleague(requester, requested):
    response = browser(requester).get("/datasets/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-export="{requested.pk}"' in html
    assert "Waiting for a colleague" in html
    assert f"/datasets/{requested.pk}/approve" not in html


def test_the_datasets_page_offers_the_approver_to_decide(approver, requested):
    response = browser(approver).get("/datasets/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'action="/datasets/{requested.pk}/approve"' in html
    assert f'action="/datasets/{requested.pk}/reject"' in html


def test_the_datasets_page_shows_an_outsider_none_of_it(outsider, requested):
    response = browser(outsider).get("/datasets/")

    assert response.status_code == 200
    assert f'data-export="{requested.pk}"' not in response.content.decode()
