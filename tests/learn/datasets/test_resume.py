"""A build interrupted by a worker restart is picked up by the beat sweep and finishes."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.datasets import services
from reviewapp.learn.datasets.models import ExportStatus
from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
    dataset_exports_resume_stalled,
)
from reviewapp.learn.datasets.tasks import resume_stalled_builds
from tests.support.files import export_path

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
STALL = settings.REVIEWAPP_EXPORT_STALLED_AFTER


class WorkerLost(BaseException):
    """Stands in for the worker process dying mid-build (nothing in the build catches it)."""


@pytest.fixture
def interrupted(corrected, demo, requester, approver, monkeypatch):
    """An export whose build died after writing one row, at NOW."""
    with time_machine.travel(NOW, tick=False):
        export = dataset_export_request(workflow=demo.workflow, requested_by=requester)
        dataset_export_approve(export=export, approver=approver)
        real_writer = services.WRITERS["jsonl"]

        def dies_after_one_row(rows, handle):
            for count in real_writer(rows, handle):
                yield count
                raise WorkerLost

        with monkeypatch.context() as patched:
            patched.setitem(services.WRITERS, "jsonl", dies_after_one_row)
            with pytest.raises(WorkerLost):
                dataset_export_build(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.BUILDING
    # The progress bar knew the total before the first row was written.
    assert (export.rows_total, export.progress_percent) == (len(corrected), 0)
    assert not export_path(export).exists()  # only a partial file was left behind
    return export


def test_a_build_that_still_beats_is_left_alone(interrupted, broker):
    with time_machine.travel(NOW + STALL - timedelta(seconds=1), tick=False):
        assert dataset_exports_resume_stalled() == []
    assert broker() == []


def test_a_stalled_build_is_re_enqueued_after_commit_and_audited(
    interrupted, django_capture_on_commit_callbacks, broker
):
    with time_machine.travel(NOW + STALL + timedelta(seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert resume_stalled_builds() == 1
        # A second sweep right after finds a fresh heartbeat: nothing is enqueued twice.
        with django_capture_on_commit_callbacks(execute=True):
            assert resume_stalled_builds() == 0

    assert broker() == [("datasets.build_export", [interrupted.pk])]
    event = AuditEvent.objects.get(action="export.build_resumed")
    assert event.object_id == str(interrupted.pk)


def test_the_resumed_build_finishes_the_release_with_every_row(interrupted, corrected):
    with time_machine.travel(NOW + STALL + timedelta(minutes=1), tick=False):
        dataset_exports_resume_stalled()
        built = dataset_export_build(export_id=interrupted.pk)

    assert built.status == ExportStatus.READY
    assert built.build_attempt == 2
    rows = [json.loads(line) for line in export_path(built).read_text().splitlines()]
    assert [row["item_id"] for row in rows] == [c.item_id for c in corrected]
    assert built.manifest["rows"] == len(corrected)
    actions = list(
        AuditEvent.objects.filter(object_id=str(built.pk), object_type="datasets.datasetexport")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[-4:] == [
        "export.building",
        "export.build_resumed",
        "export.build_restarted",
        "export.ready",
    ]


def test_a_superseded_attempt_does_not_publish(corrected, demo, requester, approver, monkeypatch):
    export = dataset_export_request(workflow=demo.workflow, requested_by=requester)
    dataset_export_approve(export=export, approver=approver)
    real_writer = services.WRITERS["jsonl"]

    def overtaken(rows, handle):
        # While this (old) attempt writes, a resumed attempt takes the export over.
        type(export).objects.filter(pk=export.pk).update(build_attempt=99)
        yield from real_writer(rows, handle)

    monkeypatch.setitem(services.WRITERS, "jsonl", overtaken)

    assert dataset_export_build(export_id=export.pk) is None
    export.refresh_from_db()
    assert export.status == ExportStatus.BUILDING
    assert not export_path(export).exists()


def test_an_approved_export_whose_build_message_was_lost_is_resumed(
    corrected, demo, requester, approver
):
    with time_machine.travel(NOW, tick=False):
        export = dataset_export_request(workflow=demo.workflow, requested_by=requester)
        dataset_export_approve(export=export, approver=approver)
    with time_machine.travel(NOW + STALL + timedelta(seconds=1), tick=False):
        assert dataset_exports_resume_stalled() == [export.pk]


def test_the_sweep_runs_on_beat():
    entry = next(
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "datasets.resume_stalled_builds"
    )
    assert entry["schedule"] > 0
    assert resume_stalled_builds.name == "datasets.resume_stalled_builds"
