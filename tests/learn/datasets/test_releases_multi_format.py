"""Releases as the ML engineer asks for them: human-verified rows by default, several formats
from one request and one approval, files named after the release, checksums, lineage and the
change since the previous release."""

import csv
import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest
from django.test import Client

from reviewapp.core.files import exports_storage
from reviewapp.learn.datasets.models import DatasetExport, ExportApproval, ExportStatus
from reviewapp.learn.datasets.services import (
    ExportInvalid,
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.review.corrections.models import Correction
from reviewapp.review.corrections.services import canonical_hash, reviewer_pseudonym
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.support.files import release_dir
from workflows.demo.tickets import LABELS

EXPORTS = "/api/v1/exports/"
# What alice decides, in order: two accepts, two corrections, one rejection.
OUTCOMES = ("accept", "correct", "accept", "correct", "reject")


@pytest.fixture
def decide(demo, reviewer):
    """``decide(*outcomes)``: alice claims the next tasks and decides them as given."""

    def run(*outcomes):
        decided = []
        for outcome in outcomes:
            task = review_task_claim(queue=demo.queue, reviewer=reviewer)
            model_label = task.item.prediction.output["label"]
            extra = {}
            if outcome == "correct":
                other = next(label for label in LABELS if label != model_label)
                extra = {"output": {"label": other}, "reason_codes": ["wrong-category"]}
            elif outcome == "reject":
                extra = {"reason_codes": ["ambiguous-text"]}
            review_task_decide(
                task=task,
                reviewer=reviewer,
                claim_token=task.claim_token,
                outcome=outcome,
                **extra,
            )
            decided.append(task.item_id)
        return decided

    return run


@pytest.fixture
def decided(routed_items, decide):
    assert len(routed_items(count=60, seed=5)) >= len(OUTCOMES) + 3
    return decide(*OUTCOMES)


def build(demo, requester, approver, *, formats=("jsonl",), filters=None, note=""):
    export = dataset_export_request(
        workflow=demo.workflow,
        requested_by=requester,
        export_formats=list(formats),
        filters=filters or {},
        note=note,
    )
    dataset_export_approve(export=export, approver=approver)
    built = dataset_export_build(export_id=export.pk)
    assert built is not None and built.status == ExportStatus.READY
    return built


def stored(release_file) -> bytes:
    with exports_storage().open(release_file.path, "rb") as handle:
        return handle.read()


def jsonl_rows(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_an_accepted_item_is_labeled_data(decided):
    outcomes = sorted(Correction.objects.values_list("decision__outcome", flat=True))

    assert outcomes == sorted(OUTCOMES)
    accepted = Correction.objects.filter(decision__outcome="accept").first()
    assert accepted.human_output == accepted.model_output
    assert accepted.diff == {}


def test_the_default_holds_accepted_and_corrected_rows_and_no_rejection(
    demo, requester, approver, decided
):
    export = build(demo, requester, approver)

    rows = jsonl_rows(stored(export.files.get()))
    assert export.filters["decision"] == "human_verified"
    assert len(rows) == OUTCOMES.count("accept") + OUTCOMES.count("correct")
    assert all(row["human_output"] for row in rows), "a rejection's output is empty"
    assert sum(1 for row in rows if row["diff"] == {}) == OUTCOMES.count("accept")
    assert export.manifest["lineage"]["by_outcome"] == {"accept": 2, "correct": 2}


@pytest.mark.parametrize(
    ("decision", "expected"),
    [("correct", {"correct": 2}), ("accept", {"accept": 2}), ("reject", {"reject": 1})],
)
def test_one_kind_of_decision_can_be_chosen(demo, requester, approver, decided, decision, expected):
    export = build(demo, requester, approver, filters={"decision": decision})

    assert export.rows_total == sum(expected.values())
    assert export.manifest["lineage"]["by_outcome"] == expected


def test_an_unknown_decision_is_refused_with_the_choices(demo, requester, decided):
    with pytest.raises(ExportInvalid) as refused:
        dataset_export_request(
            workflow=demo.workflow, requested_by=requester, filters={"decision": "any"}
        )

    assert "human_verified" in refused.value.errors["filters.decision"][0]


def test_one_approval_builds_every_format_from_the_same_rows(demo, requester, approver, decided):
    export = build(demo, requester, approver, formats=("jsonl", "csv", "parquet"))

    assert ExportApproval.objects.filter(export=export).count() == 1
    assert DatasetExport.objects.count() == 1 and export.release_version == 1
    files = {f.format: f for f in export.files.all()}
    assert sorted(files) == ["csv", "jsonl", "parquet"]
    from_jsonl = [
        (r["item_id"], r["split"], r["human_output"]) for r in jsonl_rows(stored(files["jsonl"]))
    ]
    from_csv = [
        (int(r["item_id"]), r["split"], json.loads(r["human_output"]))
        for r in csv.DictReader(io.StringIO(stored(files["csv"]).decode()))
    ]
    table = pq.read_table(io.BytesIO(stored(files["parquet"]))).to_pylist()
    from_parquet = [(r["item_id"], r["split"], json.loads(r["human_output"])) for r in table]
    assert from_jsonl == from_csv == from_parquet
    assert len(from_jsonl) == export.rows_total == 4


def test_rows_decided_after_the_approval_stay_out_of_the_build(
    demo, requester, approver, decided, decide
):
    export = dataset_export_request(
        workflow=demo.workflow, requested_by=requester, export_formats=["jsonl", "csv"]
    )
    dataset_export_approve(export=export, approver=approver)
    decide("accept")  # between the approval and the build

    built = dataset_export_build(export_id=export.pk)

    assert built.rows_total == 4
    assert len(jsonl_rows(stored(built.files.get(format="jsonl")))) == 4


def test_files_are_named_after_workflow_release_and_kind(demo, requester, approver, decided):
    build(demo, requester, approver)
    export = build(
        demo, requester, approver, formats=("jsonl", "hf_dataset", "label_studio"),
        filters={"decision": "correct"},
    )  # fmt: skip

    names = sorted(export.files.values_list("download_name", flat=True))
    assert names == [
        "ticket-triage-v2-corrections-hf-dataset.zip",
        "ticket-triage-v2-corrections-label-studio.json",
        "ticket-triage-v2-corrections.jsonl",
    ]


def test_a_single_format_request_still_works(demo, requester, approver, decided):
    export = dataset_export_request(
        workflow=demo.workflow, requested_by=requester, export_format="csv"
    )

    assert (export.format, export.all_formats) == ("csv", ["csv"])


def test_preference_pairs_cannot_share_a_release(demo, requester, decided):
    with pytest.raises(ExportInvalid) as refused:
        dataset_export_request(
            workflow=demo.workflow,
            requested_by=requester,
            export_formats=["jsonl", "preference_jsonl"],
        )

    assert "formats" in refused.value.errors


def test_every_checksum_is_the_sha256_of_the_file_a_download_hands_out(
    demo, requester, approver, decided
):
    export = build(demo, requester, approver, formats=("jsonl", "csv", "hf_dataset"))
    client = Client()
    client.force_login(requester)

    for release_file in export.files.all():
        response = client.get(f"/datasets/{export.pk}/download?file_format={release_file.format}")
        body = b"".join(response.streaming_content)
        assert hashlib.sha256(body).hexdigest() == release_file.sha256
        assert len(body) == release_file.size_bytes
        assert f'filename="{release_file.download_name}"' in response["Content-Disposition"]


def test_lineage_names_reviewers_by_their_pseudonym_only(
    demo, requester, approver, reviewer, decided
):
    export = build(demo, requester, approver)

    lineage = export.manifest["lineage"]
    assert lineage["by_reviewer"] == {reviewer_pseudonym(reviewer): 4}
    assert reviewer.get_username() not in json.dumps(lineage)
    assert sum(lineage["by_model_version"].values()) == 4


def _truth(data: bytes) -> dict[str, str]:
    return {
        canonical_hash(row["input"]): json.dumps(row["human_output"], sort_keys=True)
        for row in jsonl_rows(data)
    }


def test_the_diff_counts_added_removed_and_relabeled_rows(
    demo, requester, approver, decided, decide
):
    first = build(demo, requester, approver, filters={"decision": "all"})
    relabeled = Correction.objects.filter(decision__outcome="correct").first()
    new_label = next(label for label in LABELS if label != relabeled.human_output["label"])
    Correction.objects.filter(pk=relabeled.pk).update(human_output={"label": new_label})
    decide("accept", "correct")

    second = build(demo, requester, approver)

    before = _truth(stored(first.files.get()))
    after = _truth(stored(second.files.get()))
    expected = {
        "added": len(after.keys() - before.keys()),
        "removed": len(before.keys() - after.keys()),
        "changed": sum(1 for key in after.keys() & before.keys() if after[key] != before[key]),
        "unchanged": sum(1 for key in after.keys() & before.keys() if after[key] == before[key]),
    }
    assert expected == {"added": 2, "removed": 1, "changed": 1, "unchanged": 3}
    assert second.diff == {"previous": "v1", "previous_id": first.pk, **expected}
    assert (release_dir(second) / "rows.tsv").exists()


def test_the_first_release_has_nothing_to_compare_with(demo, requester, approver, decided):
    assert build(demo, requester, approver).diff == {"previous": None}


def test_the_api_takes_several_formats_and_lists_a_file_each(api, requester, approver, decided):
    response = api(requester).post(
        EXPORTS, {"workflow": "ticket-triage", "formats": ["jsonl", "csv"]}, format="json"
    )
    assert response.status_code == 201, response.content
    export_id = response.json()["id"]
    assert response.json()["formats"] == ["jsonl", "csv"]
    assert api(approver).post(f"{EXPORTS}{export_id}/approve").status_code == 200
    dataset_export_build(export_id=export_id)

    body = api(requester).get(f"{EXPORTS}{export_id}").json()

    assert [f["download_name"] for f in body["files"]] == [
        "ticket-triage-v1-verified.jsonl",
        "ticket-triage-v1-verified.csv",
    ]
    assert body["release_url"] == f"/datasets/releases/{export_id}/"
    download = api(requester).get(body["files"][1]["download_url"])
    assert download.status_code == 200
    assert 'filename="ticket-triage-v1-verified.csv"' in download["Content-Disposition"]


def test_the_api_refuses_a_format_the_release_was_not_built_in(
    api, demo, requester, approver, decided
):
    export = build(demo, requester, approver)

    response = api(requester).get(f"{EXPORTS}{export.pk}/download?file_format=parquet")

    assert response.status_code == 404
    bad = api(requester).get(f"{EXPORTS}{export.pk}/download?file_format=exe")
    assert bad.status_code == 400 and "file_format" in bad.json()["errors"]


def test_the_page_asks_for_a_format_when_none_is_ticked(requester, decided):
    client = Client()
    client.force_login(requester)

    response = client.post("/datasets/request", {"workflow": "ticket-triage"}, follow=True)

    assert "Choose at least one format." in response.content.decode()
    assert not DatasetExport.objects.exists()


def test_the_page_requests_every_ticked_format(requester, decided):
    client = Client()
    client.force_login(requester)

    response = client.post(
        "/datasets/request",
        {"workflow": "ticket-triage", "formats": ["parquet", "jsonl"], "decision": "accept"},
        follow=True,
    )

    assert "requested in 2 formats" in response.content.decode()
    export = DatasetExport.objects.get()
    assert (export.all_formats, export.filters) == (["parquet", "jsonl"], {"decision": "accept"})
