"""Correction datasets: request -> approval by someone else -> build -> release -> download.

An approved export becomes release v<N> of its workflow: an immutable folder under
``MEDIA_ROOT/datasets/<workflow>/v<N>/`` with the data file, ``manifest.json`` (counts, filters,
versions, checksums, the approval chain) and a data card.
"""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

from django.conf import settings
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.checksums import file_sha256
from reviewapp.core.errors import Conflict, Forbidden
from reviewapp.core.jobs import job_send_on_commit
from reviewapp.core.quotas import team_quota_take
from reviewapp.learn.datasets.exporters import (
    EXTENSIONS,
    LINE_FORMATS,
    WRITERS,
    Line,
    hf_front_matter,
    write_hf_splits,
    zip_folder,
)
from reviewapp.learn.datasets.filters import SpecInvalid, spec_filters_parse, spec_matching
from reviewapp.learn.datasets.manifest import (
    AUDIT_HEADS_FILE,
    Tally,
    data_card,
    ordered_splits,
    release_audit_heads,
    release_manifest,
    write_json,
)
from reviewapp.learn.datasets.models import (
    DatasetExport,
    ExportApproval,
    ExportFormat,
    ExportStatus,
)
from reviewapp.learn.datasets.preferences import (
    preference_filters_check,
    preference_matching,
    preference_rows_counted,
)
from reviewapp.learn.datasets.protection import sensitive_fields
from reviewapp.learn.datasets.row import PreferenceRow, RowEncoder
from reviewapp.learn.datasets.specs import spec_lines_counted, spec_rows_counted

BUILD_TASK = "datasets.build_export"

# A progress report is one UPDATE: every 5,000 rows keeps the bar moving several times a second
# without the database round trips showing in the export's speed.
PROGRESS_EVERY = 5000
FETCH_ROWS = 5000  # rows per fetch from the server-side cursor


class ExportConflict(Conflict):
    """The export is not in a state that allows this step."""


class ExportForbidden(Forbidden):
    """The user may not take this step on this export."""


class ExportInvalid(SpecInvalid):
    detail = "The export request is not valid."


def workflow_is_sensitive(workflow) -> bool:
    version = workflow.current_version
    return bool(version and version.definition.get("sensitive"))


def _audit(export: DatasetExport, action: str, actor=None, **data) -> None:
    audit_record(
        action=action,
        obj=export,
        actor=actor,
        chain=export.workflow.audit_chain,
        data={"format": export.format, **data},
    )


def _parse(workflow, filters) -> dict:
    try:
        return spec_filters_parse(workflow=workflow, filters=filters)
    except SpecInvalid as invalid:
        raise ExportInvalid(invalid.errors) from None


@transaction.atomic(durable=True)
def dataset_export_request(
    *,
    workflow,
    requested_by,
    export_format: str = ExportFormat.JSONL,
    filters: dict | None = None,
    note: str = "",
    include_sensitive: bool = False,
) -> DatasetExport:
    if export_format not in ExportFormat.values:
        raise ExportInvalid({"format": [f"Choose one of {', '.join(ExportFormat.values)}."]})
    clean = _parse(workflow, filters if filters is not None else {})
    if export_format == ExportFormat.PREFERENCE_JSONL:
        try:
            preference_filters_check(clean)
        except SpecInvalid as invalid:
            raise ExportInvalid(invalid.errors) from None
        matching: QuerySet = preference_matching(workflow=workflow, filters=clean)
    else:
        matching = spec_matching(workflow=workflow, filters=clean)
    if not matching.exists():
        raise ExportInvalid({"filters": ["This spec matches 0 rows; widen the filters."]})
    team_quota_take(
        team_id=workflow.team_id,
        in_flight=DatasetExport.objects.filter(
            workflow__team_id=workflow.team_id,
            status__in=[ExportStatus.REQUESTED, ExportStatus.APPROVED, ExportStatus.BUILDING],
        ),
        limit=settings.REVIEWAPP_TEAM_MAX_EXPORTS,
        what="dataset exports",
    )
    export = DatasetExport.objects.create(
        workflow=workflow,
        format=export_format,
        filters=clean,
        requested_by=requested_by,
        requested_at=timezone.now(),
        note=note,
        include_sensitive=include_sensitive,
        approvals_required=2 if workflow_is_sensitive(workflow) else 1,
    )
    _audit(
        export,
        "export.requested",
        requested_by,
        filters=export.filters,
        include_sensitive=include_sensitive,
        approvals_required=export.approvals_required,
    )
    return export


def _locked(export: DatasetExport) -> DatasetExport:
    return (
        DatasetExport.objects.select_for_update(of=("self",))
        .select_related("workflow")
        .get(pk=export.pk)
    )


def _waiting(export: DatasetExport) -> None:
    if export.status != ExportStatus.REQUESTED:
        raise ExportConflict(
            f"This export is {export.get_status_display().lower()}, not waiting for approval."
        )


@transaction.atomic(durable=True)
def dataset_export_approve(
    *, export: DatasetExport, approver, allow_sensitive: bool = False
) -> DatasetExport:
    """Record one approval; the last one needed publishes the release and enqueues the build."""
    export = _locked(export)
    if export.requested_by_id == approver.pk:
        raise ExportForbidden("The requester of an export cannot approve it; ask a colleague.")
    _waiting(export)
    if export.approvals.filter(approver=approver).exists():
        raise ExportConflict(
            "You already approved this export; a different colleague must give the second approval."
        )
    now = timezone.now()
    ExportApproval.objects.create(
        export=export, approver=approver, approved_at=now, allowed_sensitive=allow_sensitive
    )
    given = export.approvals.count()
    if given < export.approvals_required:
        _audit(
            export,
            "export.approval_added",
            approver,
            approvals=given,
            approvals_required=export.approvals_required,
            allowed_sensitive=allow_sensitive,
        )
        return export
    # The workflow row lock serialises release numbering between concurrent approvals.
    type(export.workflow).objects.select_for_update().filter(pk=export.workflow_id).first()
    last = DatasetExport.objects.filter(workflow_id=export.workflow_id).aggregate(
        last=Max("release_version")
    )["last"]
    export.status = ExportStatus.APPROVED
    export.decided_by = approver
    export.decided_at = now
    export.heartbeat_at = now
    export.release_version = (last or 0) + 1
    export.sensitive_included = (
        export.include_sensitive and not export.approvals.filter(allowed_sensitive=False).exists()
    )
    export.save(
        update_fields=[
            "status",
            "decided_by",
            "decided_at",
            "heartbeat_at",
            "release_version",
            "sensitive_included",
        ]
    )
    _audit(
        export,
        "export.approved",
        approver,
        release=export.release_name,
        approvals=given,
        allowed_sensitive=allow_sensitive,
        sensitive_included=export.sensitive_included,
    )
    job_send_on_commit(BUILD_TASK, export.pk)
    return export


@transaction.atomic(durable=True)
def dataset_export_reject(*, export: DatasetExport, approver, reason: str) -> DatasetExport:
    if not reason.strip():
        raise ExportInvalid({"reason": ["Say why the export is rejected."]})
    export = _locked(export)
    if export.requested_by_id == approver.pk:
        raise ExportForbidden("The requester of an export cannot decide on it.")
    _waiting(export)
    export.status = ExportStatus.REJECTED
    export.decided_by = approver
    export.decided_at = timezone.now()
    export.decision_reason = reason.strip()
    export.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    _audit(export, "export.rejected", approver, reason=export.decision_reason)
    return export


# --- build ------------------------------------------------------------------------------------


def release_dir(export: DatasetExport) -> Path:
    return Path(settings.MEDIA_ROOT) / "datasets" / export.workflow.slug / export.release_name


def export_path(export: DatasetExport) -> Path:
    """The file a download hands out: the data file, or the zip of a Hugging Face folder."""
    if export.release_version is None:
        # Built before releases existed (see migration 0003): the old flat location.
        legacy = f"export-{export.pk}.{EXTENSIONS[export.format]}"
        return Path(settings.MEDIA_ROOT) / "exports" / legacy
    name = (
        "dataset.zip"
        if export.format == ExportFormat.HF_DATASET
        else (f"data.{EXTENSIONS[export.format]}")
    )
    return release_dir(export) / name


class _Superseded(Exception):
    """A newer build attempt took over this export; this one stops without publishing."""


def _beat(export: DatasetExport, attempt: int, **fields) -> None:
    updated = DatasetExport.objects.filter(
        pk=export.pk, status=ExportStatus.BUILDING, build_attempt=attempt
    ).update(heartbeat_at=timezone.now(), **fields)
    if not updated:
        raise _Superseded


def dataset_export_build(*, export_id: int) -> DatasetExport | None:
    """Write the release, streaming rows, with progress. Safe to run again after a crash.

    A rerun starts over with a new attempt number and its own partial files; rows stream from
    the database in a fixed order, so the finished release is the same whichever run wins.
    """
    with transaction.atomic(durable=True):
        export = (
            DatasetExport.objects.select_for_update(of=("self",))
            .select_related("workflow", "requested_by", "decided_by")
            .filter(pk=export_id, status__in=[ExportStatus.APPROVED, ExportStatus.BUILDING])
            .first()
        )
        if export is None:
            return None  # already built, failed or never approved
        restarted = export.status == ExportStatus.BUILDING
        export.status = ExportStatus.BUILDING
        export.rows_total = None  # known once the rows are read (spec_rows_counted)
        export.rows_done = 0
        export.build_attempt += 1
        export.heartbeat_at = timezone.now()
        export.save(
            update_fields=["status", "rows_total", "rows_done", "build_attempt", "heartbeat_at"]
        )
        _audit(
            export,
            "export.build_restarted" if restarted else "export.building",
            attempt=export.build_attempt,
        )
    attempt = export.build_attempt
    sensitive = {} if export.sensitive_included else sensitive_fields(export.workflow)
    tally = Tally()
    spec = {"workflow": export.workflow, "filters": export.filters, "chunk": FETCH_ROWS}
    # JSONL (and the Hugging Face folder, made of JSONL) arrive as ready lines; the other
    # formats need each row's values.
    lines = export.format in LINE_FORMATS
    preferences = export.format == ExportFormat.PREFERENCE_JSONL
    try:
        with (
            preference_rows_counted(**spec)
            if preferences
            else spec_lines_counted(**spec, sensitive=sensitive)
            if lines
            else spec_rows_counted(**spec)
        ) as (total, values):
            _beat(export, attempt, rows_total=total)
            stream = (
                tally.preferences(values, RowEncoder(sensitive, PreferenceRow))
                if preferences
                else tally.lines(cast(Iterator[list[Line]], values))
                if lines
                else tally.rows(values, RowEncoder(sensitive))
            )
            files, written = _write_release(export, attempt, stream, tally, sensitive)
    except _Superseded:
        return None
    with transaction.atomic(durable=True):
        export = _locked(export)
        if export.status != ExportStatus.BUILDING or export.build_attempt != attempt:
            return None
        path = export_path(export)
        export.status = ExportStatus.READY
        export.rows_done = written
        export.rows_total = written
        export.file_name = path.name
        # The data file was hashed for the manifest already; only the HF zip is new here.
        export.sha256 = files.get(path.name) or file_sha256(path)
        export.size_bytes = path.stat().st_size
        export.built_at = timezone.now()
        export.expires_at = export.built_at + settings.REVIEWAPP_EXPORT_LINK_TTL
        export.manifest = json.loads((release_dir(export) / "manifest.json").read_text())
        export.save()
        _audit(
            export,
            "export.ready",
            rows=written,
            sha256=export.sha256,
            release=export.release_name,
            files=files,
        )
    return export


def _write_release(export, attempt, stream, tally, sensitive) -> tuple[dict[str, str], int]:
    directory = release_dir(export)
    directory.mkdir(parents=True, exist_ok=True)
    written = 0

    def progress(counts):
        # Writers count row by row, or list by list for lines (see exporters.LINE_FORMATS).
        nonlocal written
        reported = 0
        for written in counts:
            if written - reported >= PROGRESS_EVERY:
                _beat(export, attempt, rows_done=written)
                reported = written

    if export.format == ExportFormat.HF_DATASET:
        # A private working folder per attempt; the published files appear only by rename.
        work = directory / f".attempt-{attempt}"
        progress(write_hf_splits(stream, work))
        data_files = sorted(p.relative_to(work).as_posix() for p in (work / "data").glob("*"))
    else:
        work = directory
        final = export_path(export)
        partial = final.with_name(f"{final.name}.part-{attempt}")
        with partial.open("wb") as handle:
            progress(WRITERS[export.format](stream, handle))
        _beat(export, attempt)  # still ours? then publish
        partial.replace(final)
        data_files = [final.name]
    files = {name: file_sha256(work / name) for name in data_files}
    manifest = release_manifest(export, written, tally, files, sensitive)
    card = data_card(export, manifest)
    if export.format == ExportFormat.HF_DATASET:
        splits = [Path(name).stem for name in data_files]
        (work / "README.md").write_text(hf_front_matter(ordered_splits(splits)) + card)
        write_json(work / "manifest.json", manifest)
        archive = work / "dataset.zip"
        with archive.open("wb") as handle:
            zip_folder(work, ["README.md", "manifest.json", *data_files], handle)
        _beat(export, attempt)
        for name in ["README.md", "manifest.json", "dataset.zip", *data_files]:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).replace(directory / name)
    else:
        write_json(directory / "manifest.json", manifest)
        (directory / "DATACARD.md").write_text(card)
    write_json(directory / AUDIT_HEADS_FILE, release_audit_heads(export))
    return files, written


def dataset_exports_resume_stalled(*, stalled_after: timedelta | None = None) -> list[int]:
    """Re-enqueue builds that made no progress for ``stalled_after`` (e.g. a worker restart).

    The compare-and-swap on ``heartbeat_at`` lets overlapping sweeps each claim a stalled export
    at most once; the rebuild itself is fenced by ``build_attempt``.
    """
    stalled_after = stalled_after or settings.REVIEWAPP_EXPORT_STALLED_AFTER
    now = timezone.now()
    cutoff = now - stalled_after
    resumed: list[int] = []
    candidates = DatasetExport.objects.filter(
        status__in=[ExportStatus.APPROVED, ExportStatus.BUILDING], heartbeat_at__lt=cutoff
    ).values_list("pk", "heartbeat_at")
    for export_id, seen in candidates:
        with transaction.atomic(durable=True):
            claimed = DatasetExport.objects.filter(
                pk=export_id,
                status__in=[ExportStatus.APPROVED, ExportStatus.BUILDING],
                heartbeat_at=seen,
            ).update(heartbeat_at=now)
            if not claimed:
                continue
            export = DatasetExport.objects.select_related("workflow").get(pk=export_id)
            _audit(
                export,
                "export.build_resumed",
                status=export.status,
                rows_done=export.rows_done,
                last_heartbeat=seen.isoformat() if seen else None,
            )
            job_send_on_commit(BUILD_TASK, export_id)
        resumed.append(export_id)
    return resumed


@transaction.atomic(durable=True)
def dataset_export_download(*, export: DatasetExport, user) -> Path:
    """Check that the file may be handed out now, audit the download, return its path."""
    export = _locked(export)
    if export.status != ExportStatus.READY:
        raise ExportConflict("This export has no file to download yet.")
    if export.expires_at is not None and export.expires_at <= timezone.now():
        raise ExportConflict("This download link has expired; request the export again.")
    _audit(export, "export.downloaded", user)
    return export_path(export)


def dataset_export_fail(*, export_id: int, error: str) -> None:
    with transaction.atomic(durable=True):
        export = (
            DatasetExport.objects.select_for_update(of=("self",))
            .select_related("workflow")
            .filter(pk=export_id, status=ExportStatus.BUILDING)
            .first()
        )
        if export is None:
            return
        export.status = ExportStatus.FAILED
        export.error = error
        export.save(update_fields=["status", "error"])
        _audit(export, "export.failed", error=error)
