"""Migration 0006: stored specs keep what they meant, built exports get their file, and back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("datasets", "0005_preference_format")]
AFTER = [("datasets", "0006_release_files_and_human_verified")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor = MigrationExecutor(connection)
    return executor._create_project_state(with_applied_migrations=True).apps


def test_stored_specs_keep_their_meaning_and_built_exports_get_their_file():
    old = _migrate(BEFORE)
    try:
        Team = old.get_model("accounts", "Team")
        User = old.get_model("auth", "User")
        Workflow = old.get_model("workflows", "Workflow")
        DatasetExport = old.get_model("datasets", "DatasetExport")
        team = Team.objects.create(slug="invoices-team", name="Invoices")
        workflow = Workflow.objects.create(slug="invoices", name="Invoices", team=team)
        mel = User.objects.create(username="old-mel")
        now = timezone.now()

        def export(**fields):
            return DatasetExport.objects.create(
                workflow=workflow, requested_by=mel, requested_at=now, **fields
            ).pk

        any_decision = export(format="jsonl", filters={"queues": ["inbox"]})
        corrections = export(
            format="csv",
            filters={"decision": "correct"},
            status="ready",
            release_version=3,
            file_name="data.csv",
            sha256="ab" * 32,
            size_bytes=120,
        )
        preferences = export(format="preference_jsonl", filters={})
    finally:
        new = _migrate(AFTER)
    DatasetExport = new.get_model("datasets", "DatasetExport")
    ReleaseFile = new.get_model("datasets", "ReleaseFile")
    try:
        stored = {e.pk: e for e in DatasetExport.objects.all()}
        assert stored[any_decision].filters == {
            "queues": ["inbox"],
            "decision": "correct_or_reject",
        }
        assert stored[corrections].filters == {"decision": "correct"}
        assert stored[preferences].filters == {}, "comparisons have no decision"
        assert stored[corrections].formats == ["csv"]
        release_file = ReleaseFile.objects.get()
        assert (release_file.export_id, release_file.path, release_file.download_name) == (
            corrections,
            "datasets/invoices/v3/data.csv",
            "invoices-v3-corrections.csv",
        )
        assert (release_file.sha256, release_file.size_bytes) == ("ab" * 32, 120)

        back = _migrate(BEFORE)
        OldExport = back.get_model("datasets", "DatasetExport")
        assert OldExport.objects.get(pk=any_decision).filters == {"queues": ["inbox"]}
        assert OldExport.objects.get(pk=corrections).filters == {"decision": "correct"}
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
