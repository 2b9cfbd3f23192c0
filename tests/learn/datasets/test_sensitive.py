"""Sensitive input fields are redacted or pseudonymised in every format unless approved."""

import csv
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reviewapp.learn.datasets.specs import REDACTED, pseudonym
from tests.support.files import export_path
from workflows.definitions import DefinitionInvalid, workflow_file_load
from workflows.demo.definition import DEMO_FILE

FORMATS = ["jsonl", "csv", "parquet", "label_studio", "hf_dataset"]


def exported_inputs(export) -> list[dict]:
    path = export_path(export)
    if export.format == "jsonl":
        return [json.loads(line)["input"] for line in path.read_text().splitlines()]
    if export.format == "csv":
        return [json.loads(row["input"]) for row in csv.DictReader(io.StringIO(path.read_text()))]
    if export.format == "parquet":
        return [json.loads(value) for value in pq.read_table(path).column("input").to_pylist()]
    if export.format == "label_studio":
        return [
            {k: v for k, v in task["data"].items() if k != "item_id"}
            for task in json.loads(path.read_text())
        ]
    with zipfile.ZipFile(path) as archive:
        return [
            json.loads(line)["input"]
            for name in sorted(archive.namelist())
            if name.startswith("data/")
            for line in archive.read(name).decode().splitlines()
        ]


def raw_bytes(export) -> bytes:
    path = export_path(export)
    if export.format != "hf_dataset":
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


@pytest.fixture
def marked(mark_sensitive, corrected):
    mark_sensitive(fields={"subject": "redact", "customer_tier": "pseudonymise"})
    assert any(c.input.get("customer_tier") for c in corrected), "need a tier to pseudonymise"
    return corrected


@pytest.mark.parametrize("export_format", FORMATS)
def test_sensitive_fields_are_protected_in_every_format(release, marked, export_format):
    export = release(export_format=export_format)

    inputs = exported_inputs(export)
    by_body = {c.input["body"]: c.input for c in marked}
    assert len(inputs) == len(marked)
    for row in inputs:
        original = by_body[row["body"]]  # unmarked fields pass through untouched
        assert row["subject"] == REDACTED
        if original.get("customer_tier"):
            assert row["customer_tier"] == pseudonym("customer_tier", original["customer_tier"])
            assert row["customer_tier"] != original["customer_tier"]
    content = raw_bytes(export)
    for correction in marked:
        assert (
            json.dumps(correction.input["subject"], ensure_ascii=False)[1:-1].encode()
            not in content
        )
    assert export.manifest["sensitive"] == {
        "fields": {"customer_tier": "pseudonymise", "subject": "redact"},
        "included": False,
    }


def test_pseudonyms_are_stable_and_keyed(settings):
    assert pseudonym("customer_tier", "pro") == pseudonym("customer_tier", "pro")
    assert pseudonym("customer_tier", "pro") != pseudonym("customer_tier", "free")
    assert pseudonym("customer_tier", "pro") != pseudonym("other_field", "pro")
    before = pseudonym("customer_tier", "pro")
    settings.REVIEWAPP_PSEUDONYM_KEY = "another deployment"
    assert pseudonym("customer_tier", "pro") != before


def test_the_preview_protects_sensitive_fields(api, requester, marked):
    samples = (
        api(requester)
        .post("/api/v1/exports/preview", {"workflow": "ticket-triage"}, format="json")
        .json()["samples"]
    )

    assert {sample["input"]["subject"] for sample in samples} == {REDACTED}


def test_sensitive_data_is_included_only_when_requested_and_allowed(release, marked):
    asked_not_allowed = release(include_sensitive=True, allow_sensitive=False)
    allowed_not_asked = release(include_sensitive=False, allow_sensitive=True)
    asked_and_allowed = release(include_sensitive=True, allow_sensitive=True)

    for export in (asked_not_allowed, allowed_not_asked):
        assert not export.sensitive_included
        assert {row["subject"] for row in exported_inputs(export)} == {REDACTED}
    assert asked_and_allowed.sensitive_included
    assert asked_and_allowed.manifest["sensitive"]["included"] is True
    assert sorted(row["subject"] for row in exported_inputs(asked_and_allowed)) == sorted(
        c.input["subject"] for c in marked
    )


def test_the_split_does_not_move_when_a_field_is_redacted(release, corrected, mark_sensitive):
    before = [json.loads(line)["split"] for line in export_path(release()).read_text().splitlines()]
    mark_sensitive(fields={"subject": "redact", "body": "redact"})
    after = [json.loads(line)["split"] for line in export_path(release()).read_text().splitlines()]

    assert before == after


# --- the workflow definition file -------------------------------------------------------------


def definition_file(tmp_path: Path, edit) -> Path:
    text = DEMO_FILE.read_text()
    path = tmp_path / "ticket-triage.yaml"
    path.write_text(edit(text))
    return path


def test_a_definition_may_mark_the_workflow_and_fields_sensitive(tmp_path):
    path = definition_file(
        tmp_path,
        lambda text: text.replace(
            "  queue: ticket-triage\n", "  queue: ticket-triage\n  sensitive: true\n"
        ).replace(
            "subject: {type: string, minLength: 1, maxLength: 200}",
            "subject: {type: string, minLength: 1, maxLength: 200, x-sensitive: redact}",
        ),
    )

    loaded = workflow_file_load(path)

    assert loaded.definition["sensitive"] is True
    assert loaded.definition["input_schema"]["properties"]["subject"]["x-sensitive"] == "redact"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "  queue: ticket-triage\n",
            "  queue: ticket-triage\n  sensitive: maybe\n",
            "definition.sensitive",
        ),
        (
            "maxLength: 200}",
            "maxLength: 200, x-sensitive: hide}",
            "definition.input_schema.properties.subject.x-sensitive",
        ),
    ],
    ids=["flag-not-boolean", "unknown-mode"],
)
def test_a_bad_sensitive_marking_is_refused(tmp_path, old, new, field):
    path = definition_file(tmp_path, lambda text: text.replace(old, new))

    with pytest.raises(DefinitionInvalid) as refused:
        workflow_file_load(path)

    assert field in str(refused.value)
