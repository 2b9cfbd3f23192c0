"""Dataset specs: strict filters, the preview, duplicates and the split."""

import json
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from reviewapp.learn.datasets import selectors
from reviewapp.learn.datasets.exporters import jsonl_line
from reviewapp.learn.datasets.models import DatasetExport
from reviewapp.learn.datasets.specs import (
    canonical_hash,
    protect_input,
    sensitive_fields,
    spec_rows,
    spec_rows_counted,
    split_for,
)
from reviewapp.review.corrections.models import Correction
from reviewapp.review.quality.models import GoldItem, GoldTask
from tests.support.files import export_path
from workflows.models import Item

EXPORTS = "/api/v1/exports/"
PREVIEW = "/api/v1/exports/preview"


def preview(api, user, filters=None, workflow="ticket-triage"):
    return api(user).post(PREVIEW, {"workflow": workflow, "filters": filters or {}}, format="json")


# --- strict filters ---------------------------------------------------------------------------

BAD_FILTERS = [
    ({"colour": "red"}, "filters.colour"),
    ({"created_after": "last week"}, "filters.created_after"),
    ({"created_before": 20261124}, "filters.created_before"),
    ({"workflow_versions": ["one"]}, "filters.workflow_versions"),
    ({"workflow_versions": [99]}, "filters.workflow_versions"),
    ({"workflow_versions": []}, "filters.workflow_versions"),
    ({"queues": ["someone-elses-queue"]}, "filters.queues"),
    ({"queues": "ticket-triage"}, "filters.queues"),
    ({"reason_codes": ["made-up"]}, "filters.reason_codes"),
    ({"decision": "any"}, "filters.decision"),
    ({"qa_samples_only": "yes"}, "filters.qa_samples_only"),
    (
        {"item__submitted_by__password__startswith": "pbkdf2"},
        "filters.item__submitted_by__password__startswith",
    ),
    (["created_after"], "filters"),
]


@pytest.mark.parametrize(("filters", "field"), BAD_FILTERS, ids=[f for _, f in BAD_FILTERS])
def test_a_bad_filter_is_a_400_naming_it_in_preview_and_request(
    api, requester, corrected, filters, field
):
    previewed = preview(api, requester, filters)
    requested = api(requester).post(
        EXPORTS, {"workflow": "ticket-triage", "filters": filters}, format="json"
    )

    for response in (previewed, requested):
        assert response.status_code == 400, response.content
        assert field in response.json()["errors"]
        assert response.json()["detail"]
    assert not DatasetExport.objects.exists()


def test_dates_must_be_in_order(api, requester, corrected):
    response = preview(
        api, requester, {"created_after": "2026-12-01", "created_before": "2026-11-01"}
    )

    assert response.status_code == 400
    assert "filters.created_before" in response.json()["errors"]


# --- the preview ------------------------------------------------------------------------------


def test_the_preview_counts_rows_by_class_reason_and_split(api, requester, corrected):
    response = preview(api, requester)

    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == len(corrected) == 4
    assert body["by_class"] == dict(Counter(c.human_output["label"] for c in corrected))
    assert body["by_reason"] == {"ambiguous-text": 1, "mixed-topics": 1, "wrong-category": 2}
    assert sum(body["by_split"].values()) == 4
    assert set(body["by_split"]) == {"train", "validation", "test"}
    assert [s["item_id"] for s in body["samples"]] == [c.item_id for c in corrected]
    assert body["samples"][0]["split"] == split_for(corrected[0].input)


def test_the_preview_shows_at_most_the_sample_size(api, requester, corrected, monkeypatch):
    monkeypatch.setattr(selectors, "PREVIEW_SAMPLES", 2)

    body = preview(api, requester).json()

    assert body["rows"] == 4
    assert len(body["samples"]) == 2


def test_a_spec_that_matches_nothing_previews_0_rows_and_cannot_be_requested(
    api, requester, corrected
):
    spec = {"decision": "reject"}  # corrections so far are all "correct" decisions

    previewed = preview(api, requester, spec)
    requested = api(requester).post(
        EXPORTS, {"workflow": "ticket-triage", "filters": spec}, format="json"
    )

    assert previewed.status_code == 200
    assert previewed.json()["rows"] == 0
    assert previewed.json()["samples"] == []
    assert requested.status_code == 400
    assert "0 rows" in requested.json()["errors"]["filters"][0]
    assert not DatasetExport.objects.exists()


def test_an_outsider_cannot_preview_another_teams_workflow(api, outsider, corrected):
    assert preview(api, outsider).status_code == 404


# --- each filter narrows ----------------------------------------------------------------------


def rows_for(api, user, filters):
    response = preview(api, user, filters)
    assert response.status_code == 200, response.content
    return [sample["item_id"] for sample in response.json()["samples"]]


def test_reason_codes_keep_corrections_with_any_of_them(api, requester, corrected):
    wanted = [
        c.item_id for c in corrected if {"mixed-topics", "ambiguous-text"} & set(c.reason_codes)
    ]

    assert rows_for(api, requester, {"reason_codes": ["mixed-topics", "ambiguous-text"]}) == wanted
    assert len(wanted) == 2


def test_the_date_range_is_half_open(api, requester, corrected):
    third = corrected[2]
    Correction.objects.filter(pk=third.pk).update(
        created_at=timezone.make_aware(timezone.datetime(2030, 1, 1))
    )

    assert rows_for(api, requester, {"created_after": "2030-01-01"}) == [third.item_id]
    assert third.item_id not in rows_for(api, requester, {"created_before": "2030-01-01"})


def test_qa_samples_only_keeps_qa_sampled_items(api, requester, corrected):
    sampled = corrected[1]
    Item.objects.filter(pk=sampled.item_id).update(routing={"qa_sample": True})

    assert rows_for(api, requester, {"qa_samples_only": True}) == [sampled.item_id]
    assert len(rows_for(api, requester, {"qa_samples_only": False})) == 4


def test_queues_decision_and_versions_filter_by_their_own_columns(api, requester, corrected, demo):
    everything = [c.item_id for c in corrected]
    version = demo.workflow.current_version.number

    assert rows_for(api, requester, {"queues": [demo.queue.slug]}) == everything
    assert rows_for(api, requester, {"decision": "correct"}) == everything
    assert rows_for(api, requester, {"workflow_versions": [version]}) == everything


# --- duplicates and the split -----------------------------------------------------------------


def test_duplicate_inputs_keep_only_the_latest_correction(api, requester, corrected):
    first, second = corrected[0], corrected[1]
    # The same ticket seen twice, keys in another order: still the same content.
    # As a correction of that input records it: the input (keys in another order) and its hash.
    reordered = dict(reversed(second.input.items()))
    Correction.objects.filter(pk=first.pk).update(
        input=reordered, input_hash=canonical_hash(reordered)
    )

    kept = rows_for(api, requester, {})

    assert second.item_id in kept
    assert first.item_id not in kept
    assert len(kept) == 3


def test_gold_items_are_never_dataset_rows(api, requester, corrected, demo):
    gold = corrected[2]
    GoldTask.objects.create(
        gold_item=GoldItem.objects.create(
            queue=demo.queue,
            input=gold.input,
            expected_output=gold.human_output,
            proposed_output=gold.model_output,
        ),
        item_id=gold.item_id,
        task_id=gold.decision.task_id,
    )

    kept = rows_for(api, requester, {})

    assert kept == [c.item_id for c in corrected if c.pk != gold.pk]
    assert preview(api, requester).json()["rows"] == len(corrected) - 1


def test_of_two_corrections_of_one_input_at_the_same_instant_the_later_one_wins(
    api, requester, corrected
):
    first, second = corrected[0], corrected[1]
    Correction.objects.filter(pk=first.pk).update(
        input=second.input, input_hash=canonical_hash(second.input)
    )
    Correction.objects.filter(pk__in=[first.pk, second.pk]).update(created_at=second.created_at)

    kept = rows_for(api, requester, {})

    later = max(first, second, key=lambda c: c.pk)
    assert later.item_id in kept and len(kept) == 3


def test_built_rows_are_the_reference_rows_byte_for_byte(release, corrected, mark_sensitive):
    """The fast row path (SQL text, caches, assembled lines) against the plain definition."""
    mark_sensitive(fields={"customer_tier": "pseudonymise", "subject": "redact"})
    # A whole second (isoformat drops the fraction) and a fractional one.
    Correction.objects.filter(pk=corrected[0].pk).update(
        created_at=timezone.make_aware(timezone.datetime(2026, 11, 24, 10, 0, 0))
    )
    Correction.objects.filter(pk=corrected[1].pk).update(
        created_at=timezone.make_aware(timezone.datetime(2026, 11, 24, 10, 0, 0, 5))
    )
    sensitive = sensitive_fields(corrected[0].workflow)
    expected = b"".join(
        jsonl_line(
            {
                "item_id": c.item_id,
                "input": protect_input(c.input, sensitive),
                "model_output": c.model_output,
                "human_output": c.human_output,
                "diff": c.diff,
                "reason_codes": c.reason_codes,
                "comment": c.comment,
                "model_version": c.model_version,
                "reviewer": c.reviewer_pseudonym,
                "corrected_at": c.created_at.isoformat(),
                "split": split_for(c.input),
                "disagreement": None,
            }
        )
        for c in Correction.objects.order_by("created_at", "id")
    )

    export = release()

    assert b"+00:00" in expected and b'"2026-11-24T10:00:00.000005+00:00"' in expected
    assert export_path(export).read_bytes() == expected


def test_the_split_follows_the_input_hash(corrected):
    ticket = {"subject": "Refund", "body": "I was charged twice"}
    bucket = int(canonical_hash(ticket)[:8], 16) % 100
    expected = "train" if bucket < 80 else "validation" if bucket < 90 else "test"

    assert split_for(ticket) == expected
    assert split_for(dict(reversed(ticket.items()))) == expected  # key order is irrelevant
    shares = Counter(split_for({"n": n}) for n in range(2000))
    assert 1500 < shares["train"] < 1700
    assert 120 < shares["validation"] < 280
    assert 120 < shares["test"] < 280


@pytest.mark.parametrize("export_format", ["jsonl", "csv", "parquet", "label_studio"])
def test_every_format_carries_the_split(release, corrected, export_format):
    import csv
    import io

    import pyarrow.parquet as pq

    export = release(export_format=export_format)
    path = export_path(export)
    if export_format == "jsonl":
        splits = [json.loads(line)["split"] for line in path.read_text().splitlines()]
    elif export_format == "csv":
        splits = [row["split"] for row in csv.DictReader(io.StringIO(path.read_text()))]
    elif export_format == "parquet":
        splits = pq.read_table(path).column("split").to_pylist()
    else:
        splits = [task["meta"]["split"] for task in json.loads(path.read_text())]

    assert splits == [split_for(c.input) for c in corrected]


# --- the datasets page ------------------------------------------------------------------------


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_page_previews_a_spec_as_an_htmx_fragment(requester, corrected):
    response = browser(requester).post(
        "/datasets/preview",
        {"workflow": "ticket-triage", "reason_codes": ["wrong-category"]},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'data-testid="preview-rows">2 rows<' in html
    assert html.count('data-testid="preview-row"') == 2


def test_the_page_previews_without_javascript_and_keeps_the_form(requester, corrected):
    response = browser(requester).post(
        "/datasets/preview", {"workflow": "ticket-triage", "decision": "reject", "note": "why"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert 'data-testid="preview-rows">0 rows<' in html
    assert "nothing to export" in html
    assert '<option value="reject" selected>' in html


def test_the_page_shows_a_bad_filter_next_to_the_preview(requester, corrected):
    response = browser(requester).post(
        "/datasets/preview",
        {"workflow": "ticket-triage", "workflow_versions": "x"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    assert "filters.workflow_versions" in response.content.decode()


def test_the_page_refuses_to_request_a_spec_with_0_rows(requester, corrected):
    response = browser(requester).post(
        "/datasets/request",
        {"workflow": "ticket-triage", "decision": "reject", "formats": "jsonl"},
        follow=True,
    )

    assert "0 rows" in response.content.decode()
    assert not DatasetExport.objects.exists()


def _nested_loops_allowed() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_nestloop")
        return cursor.fetchone()[0]


def test_dataset_queries_never_plan_a_nested_loop_and_leave_the_session_as_it_was(corrected):
    """Right after a burst of corrections the planner's statistics are stale and a nested loop
    anti-join compares every correction with every other; the dataset queries rule it out."""
    workflow = corrected[0].workflow
    seen = []
    for _ in spec_rows(workflow=workflow, filters={}):
        seen.append(_nested_loops_allowed())
    assert seen and set(seen) == {"off"}
    assert _nested_loops_allowed() == "on"

    with spec_rows_counted(workflow=workflow, filters={}) as (total, rows):
        assert total == len(list(rows)) == len(seen)
        assert _nested_loops_allowed() == "on"  # only the held cursor was planned without
