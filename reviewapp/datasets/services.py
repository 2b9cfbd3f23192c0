"""Correction datasets: request -> approval by someone else -> build -> download."""

from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.audit.services import audit_record
from reviewapp.checksums import file_sha256
from reviewapp.corrections.models import Correction
from reviewapp.datasets.exporters import EXTENSIONS, WRITERS
from reviewapp.datasets.models import DatasetExport, ExportFormat, ExportStatus

PROGRESS_EVERY = 500
EXPORT_FIELDS = (
    "item_id", "input", "model_output", "human_output", "diff", "reason_codes", "comment",
    "model_version", "reviewer", "corrected_at",
)


class ExportConflict(Exception):
    """The export is not in a state that allows this step (409)."""


class ExportForbidden(Exception):
    """The user may not take this step on this export (403)."""


class ExportInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("the export request is not valid")
        self.errors = errors


ALLOWED_FILTERS = {"created_after", "created_before"}


def _parse_filters(filters: dict) -> dict:
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for name, value in filters.items():
        if name not in ALLOWED_FILTERS:
            errors[f"filters.{name}"] = [
                f"Unknown filter. Use one of: {', '.join(sorted(ALLOWED_FILTERS))}."
            ]
        else:
            try:
                datetime.fromisoformat(str(value))
            except ValueError:
                errors[f"filters.{name}"] = ["Give an ISO 8601 date or time."]
            else:
                clean[name] = str(value)
    if errors:
        raise ExportInvalid(errors)
    return clean


def corrections_for_export(export: DatasetExport):
    rows = Correction.objects.filter(workflow=export.workflow)
    filters = export.filters
    if "created_after" in filters:
        rows = rows.filter(created_at__gte=_aware(filters["created_after"]))
    if "created_before" in filters:
        rows = rows.filter(created_at__lt=_aware(filters["created_before"]))
    return rows.order_by("created_at", "id")


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _audit(export: DatasetExport, action: str, actor=None, **data) -> None:
    audit_record(action=action, obj=export, actor=actor, chain=export.workflow.audit_chain,
                 data={"format": export.format, **data})


@transaction.atomic(durable=True)
def dataset_export_request(
    *, workflow, requested_by, export_format: str = ExportFormat.JSONL, filters: dict | None = None,
    note: str = "",
) -> DatasetExport:
    if export_format not in ExportFormat.values:
        raise ExportInvalid({"format": [f"Choose one of {', '.join(ExportFormat.values)}."]})
    export = DatasetExport.objects.create(
        workflow=workflow,
        format=export_format,
        filters=_parse_filters(filters or {}),
        requested_by=requested_by,
        requested_at=timezone.now(),
        note=note,
    )
    _audit(export, "export.requested", requested_by, filters=export.filters)
    return export


def _locked(export: DatasetExport) -> DatasetExport:
    return (
        DatasetExport.objects.select_for_update(of=("self",))
        .select_related("workflow")
        .get(pk=export.pk)
    )


@transaction.atomic(durable=True)
def dataset_export_approve(*, export: DatasetExport, approver) -> DatasetExport:
    export = _locked(export)
    if export.requested_by_id == approver.pk:
        raise ExportForbidden("The requester of an export cannot approve it; ask a colleague.")
    if export.status != ExportStatus.REQUESTED:
        raise ExportConflict(f"This export is {export.get_status_display().lower()}, "
                             "not waiting for approval.")
    export.status = ExportStatus.APPROVED
    export.decided_by = approver
    export.decided_at = timezone.now()
    export.save(update_fields=["status", "decided_by", "decided_at"])
    _audit(export, "export.approved", approver)
    from reviewapp.datasets.tasks import build_export

    transaction.on_commit(lambda: build_export.delay(export.pk))
    return export


@transaction.atomic(durable=True)
def dataset_export_reject(*, export: DatasetExport, approver, reason: str) -> DatasetExport:
    if not reason.strip():
        raise ExportInvalid({"reason": ["Say why the export is rejected."]})
    export = _locked(export)
    if export.requested_by_id == approver.pk:
        raise ExportForbidden("The requester of an export cannot decide on it.")
    if export.status != ExportStatus.REQUESTED:
        raise ExportConflict(f"This export is {export.get_status_display().lower()}, "
                             "not waiting for approval.")
    export.status = ExportStatus.REJECTED
    export.decided_by = approver
    export.decided_at = timezone.now()
    export.decision_reason = reason.strip()
    export.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    _audit(export, "export.rejected", approver, reason=export.decision_reason)
    return export


def export_path(export: DatasetExport) -> Path:
    name = f"export-{export.pk}.{EXTENSIONS[export.format]}"
    return Path(settings.MEDIA_ROOT) / "exports" / name


def correction_row(correction: Correction) -> dict:
    return {
        "item_id": correction.item_id,
        "input": correction.input,
        "model_output": correction.model_output,
        "human_output": correction.human_output,
        "diff": correction.diff,
        "reason_codes": correction.reason_codes,
        "comment": correction.comment,
        "model_version": correction.model_version,
        "reviewer": correction.reviewer_pseudonym,
        "corrected_at": correction.created_at.isoformat(),
    }


def dataset_export_build(*, export_id: int) -> DatasetExport | None:
    """Write the export file, streaming rows, with progress. Safe to run again after a crash."""
    with transaction.atomic(durable=True):
        export = (
            DatasetExport.objects.select_for_update(of=("self",))
            .select_related("workflow")
            .filter(pk=export_id, status__in=[ExportStatus.APPROVED, ExportStatus.BUILDING])
            .first()
        )
        if export is None:
            return None  # already built, failed or never approved
        rows = corrections_for_export(export)
        restarted = export.status == ExportStatus.BUILDING
        export.status = ExportStatus.BUILDING
        export.rows_total = rows.count()
        export.rows_done = 0
        export.save(update_fields=["status", "rows_total", "rows_done"])
        _audit(export, "export.build_restarted" if restarted else "export.building")
    path = export_path(export)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    written = 0
    with partial.open("wb") as handle:
        stream = (correction_row(c) for c in rows.iterator(chunk_size=2000))
        for written in WRITERS[export.format](stream, handle):
            if written % PROGRESS_EVERY == 0:
                DatasetExport.objects.filter(pk=export.pk).update(rows_done=written)
    partial.replace(path)
    with transaction.atomic(durable=True):
        export = _locked(export)
        export.status = ExportStatus.READY
        export.rows_done = written
        export.rows_total = written
        export.file_name = path.name
        export.sha256 = file_sha256(path)
        export.size_bytes = path.stat().st_size
        export.built_at = timezone.now()
        export.expires_at = export.built_at + settings.REVIEWAPP_EXPORT_LINK_TTL
        export.manifest = {
            "workflow": export.workflow.slug,
            "format": export.format,
            "filters": export.filters,
            "rows": written,
            "fields": list(EXPORT_FIELDS),
            "sha256": export.sha256,
            "requested_by": export.requested_by.get_username(),
            "approved_by": export.decided_by.get_username() if export.decided_by else None,
            "built_at": export.built_at.isoformat(),
        }
        export.save()
        _audit(export, "export.ready", rows=written, sha256=export.sha256)
    return export


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
            DatasetExport.objects.select_for_update(of=("self",)).select_related("workflow")
            .filter(pk=export_id, status=ExportStatus.BUILDING).first()
        )
        if export is None:
            return
        export.status = ExportStatus.FAILED
        export.error = error
        export.save(update_fields=["status", "error"])
        _audit(export, "export.failed", error=error)
