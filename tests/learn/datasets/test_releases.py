"""Approved exports become immutable, versioned releases with a manifest and a data card."""

import hashlib
import json
from collections import Counter

import pytest
from django.db import connection
from django.test import Client

from reviewapp.core.audit.heads import audit_heads_check, audit_heads_read
from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.datasets.models import ExportStatus
from reviewapp.learn.datasets.services import (
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.learn.datasets.specs import split_for
from tests.support.files import export_path, release_dir

EXPORTS = "/api/v1/exports/"


def actions_on(export):
    return list(
        AuditEvent.objects.filter(object_type="datasets.datasetexport", object_id=str(export.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_each_approved_export_is_the_next_release_of_its_workflow(release, corrected):
    first = release(note="baseline")
    second = release(filters={"reason_codes": ["wrong-category"]})

    assert (first.release_version, second.release_version) == (1, 2)
    assert release_dir(first).name == "v1" and release_dir(second).name == "v2"
    assert export_path(first).parent == release_dir(first)
    assert export_path(first).exists() and export_path(second).exists()


def test_the_manifest_next_to_the_data_records_counts_versions_checksums_and_approvals(
    release, corrected, demo, requester, approver
):
    export = release(
        note="retrain triage on Q4 corrections",
        filters={"reason_codes": ["wrong-category", "mixed-topics"]},
    )
    on_disk = json.loads((release_dir(export) / "manifest.json").read_text())
    data = export_path(export).read_bytes()

    assert on_disk == export.manifest
    assert on_disk["release"] == "v1"
    assert on_disk["rows"] == 3
    assert on_disk["filters"] == {
        "decision": "human_verified",  # the default, written down
        "reason_codes": ["mixed-topics", "wrong-category"],
    }
    assert sum(on_disk["counts"]["by_split"].values()) == 3
    assert on_disk["counts"]["by_reason"] == {"mixed-topics": 1, "wrong-category": 2}
    assert on_disk["workflow_versions"] == [demo.workflow.current_version.number]
    assert on_disk["model_versions"] == [str(demo.model_version)]
    assert on_disk["files"] == [{"path": "data.jsonl", "sha256": hashlib.sha256(data).hexdigest()}]
    assert on_disk["sha256"] == export.sha256 == hashlib.sha256(data).hexdigest()
    chain = on_disk["approval_chain"]
    assert chain["requested_by"] == requester.username
    assert chain["purpose"] == "retrain triage on Q4 corrections"
    assert [a["approver"] for a in chain["approvals"]] == [approver.username]
    assert chain["approvals"][0]["approved_at"]


def test_the_release_keeps_the_audit_heads_that_later_show_a_cut_trail(release, corrected, demo):
    export = release()
    path = release_dir(export) / "audit-heads.json"
    assert "audit_heads" not in export.manifest, "the dataset's own bytes stay reproducible"
    heads = json.loads(path.read_text())["audit_heads"]
    chain = demo.workflow.audit_chain
    assert list(heads) == [chain]
    # The build records events after the manifest (export.ready): heads are a past state.
    for shard, head in heads[chain].items():
        recorded = AuditEvent.objects.get(chain=chain, shard=int(shard), seq=head["seq"])
        assert recorded.hash == head["hash"]
    assert audit_heads_check(audit_heads_read(path.read_text())) == []

    # The newest event of a recorded shard removed (the append-only trigger off, as an owner
    # could): the manifest's heads show it.
    shard, head = next(iter(heads[chain].items()))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # triggers off, as root
        try:
            AuditEvent.objects.filter(chain=chain, shard=int(shard), seq__gte=head["seq"]).delete()
        finally:
            cursor.execute("SET LOCAL session_replication_role = origin")
    [missing] = audit_heads_check(audit_heads_read(path.read_text()))
    assert (missing.chain, missing.seq) == (chain, head["seq"]) and "gone" in missing.problem


def test_the_data_card_says_purpose_source_fields_and_limitations(release, corrected):
    export = release(note="retrain triage on Q4 corrections")
    card = (release_dir(export) / "DATACARD.md").read_text()

    assert "## Purpose\nretrain triage on Q4 corrections" in card
    assert "## Source" in card and "`ticket-triage`" in card
    for field in ("human_output", "reason_codes", "split", "reviewer"):
        assert f"- `{field}`:" in card
    assert "## Known limitations" in card
    assert "mel" in card and "ines" in card  # the approval chain


def test_a_release_is_never_rebuilt(release, corrected):
    export = release()
    before = export_path(export).read_bytes()

    assert dataset_export_build(export_id=export.pk) is None
    assert export_path(export).read_bytes() == before


# --- sensitive workflows need two approvers ---------------------------------------------------


@pytest.fixture
def sensitive_request(mark_sensitive, corrected, demo, requester):
    mark_sensitive(sensitive=True)
    return dataset_export_request(workflow=demo.workflow, requested_by=requester)


def test_a_sensitive_workflow_needs_a_second_different_approver(
    api, sensitive_request, approver, second_approver, requester
):
    export = sensitive_request
    assert export.approvals_required == 2

    first = api(approver).post(f"{EXPORTS}{export.pk}/approve")
    assert first.status_code == 200
    assert first.json()["status"] == ExportStatus.REQUESTED
    assert first.json()["release"] is None
    assert dataset_export_build(export_id=export.pk) is None  # nothing builds yet

    again = api(approver).post(f"{EXPORTS}{export.pk}/approve")
    assert again.status_code == 409
    assert api(requester).post(f"{EXPORTS}{export.pk}/approve").status_code == 403

    second = api(second_approver).post(f"{EXPORTS}{export.pk}/approve")
    assert second.status_code == 200
    assert second.json()["status"] == ExportStatus.APPROVED
    assert second.json()["release"] == "v1"
    assert [a["approver"] for a in second.json()["approvals"]] == ["ines", "nora"]

    built = dataset_export_build(export_id=export.pk)
    assert [a["approver"] for a in built.manifest["approval_chain"]["approvals"]] == [
        "ines",
        "nora",
    ]
    assert actions_on(export) == [
        "export.requested",
        "export.approval_added",
        "export.approved",
        "export.building",
        "export.ready",
    ]


def test_approving_a_sensitive_export_after_rejection_is_a_conflict(
    api, sensitive_request, approver, second_approver
):
    export = sensitive_request
    assert api(approver).post(f"{EXPORTS}{export.pk}/approve").status_code == 200
    rejected = api(second_approver).post(
        f"{EXPORTS}{export.pk}/reject", {"reason": "Not needed"}, format="json"
    )
    assert rejected.status_code == 200

    assert api(second_approver).post(f"{EXPORTS}{export.pk}/approve").status_code == 409
    export.refresh_from_db()
    assert export.status == ExportStatus.REJECTED
    assert export.release_version is None


def test_the_page_shows_the_approvals_still_needed(sensitive_request, approver, second_approver):
    client = Client()
    client.force_login(approver)
    client.post(f"/datasets/{sensitive_request.pk}/approve")

    html = client.get("/datasets/").content.decode()
    assert "1 of 2 approvals" in html
    assert f'action="/datasets/{sensitive_request.pk}/approve"' not in html  # ines did hers

    other = Client()
    other.force_login(second_approver)
    assert (
        f'action="/datasets/{sensitive_request.pk}/approve"'
        in other.get("/datasets/").content.decode()
    )


def test_lines_and_rows_count_the_same_classes_reasons_splits_and_versions(
    release, corrected, demo
):
    # JSONL and the Hugging Face folder count the tally keys PostgreSQL puts beside each line;
    # CSV counts the rows it encodes. Both must describe the same data.
    manifests = [release(export_format=fmt).manifest for fmt in ("jsonl", "hf_dataset", "csv")]

    counts = manifests[0]["counts"]
    assert counts["by_class"] == dict(
        sorted(Counter(c.human_output["label"] for c in corrected).items())
    )
    assert counts["by_reason"] == {"ambiguous-text": 1, "mixed-topics": 1, "wrong-category": 2}
    assert counts["by_split"] == {
        name: sum(split_for(c.input) == name for c in corrected)
        for name in ("train", "validation", "test")
    }
    for manifest in manifests:
        assert manifest["counts"] == counts
        assert manifest["workflow_versions"] == [demo.workflow.current_version.number]
        assert manifest["model_versions"] == [str(demo.model_version)]
