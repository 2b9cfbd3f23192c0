from collections import Counter
from dataclasses import dataclass, field

from django.http import Http404
from django.urls import reverse

from reviewapp.learn.datasets.filters import DECISIONS, SpecInvalid, spec_filters_parse
from reviewapp.learn.datasets.manifest import known_limits
from reviewapp.learn.datasets.models import DatasetExport, ExportFormat, ExportStatus
from reviewapp.learn.datasets.protection import sensitive_fields
from reviewapp.learn.datasets.row import PREFERENCE_ROW, ROW, RowEncoder
from reviewapp.learn.datasets.specs import output_class, spec_rows
from reviewapp.learn.datasets.splits import SPLITS

PREVIEW_SAMPLES = 20


def export_summary(export: DatasetExport) -> dict:
    return {
        "id": export.pk,
        "workflow": export.workflow.slug,
        "format": export.format,
        "formats": export.all_formats,
        "filters": export.filters,
        "status": export.status,
        "requested_by": export.requested_by.get_username(),
        "requested_at": export.requested_at.isoformat(),
        "decided_by": export.decided_by.get_username() if export.decided_by else None,
        "decision_reason": export.decision_reason or None,
        "approvals_required": export.approvals_required,
        "approvals": [
            {"approver": a.approver.get_username(), "approved_at": a.approved_at.isoformat()}
            for a in export.approvals.select_related("approver")
        ],
        "include_sensitive": export.include_sensitive,
        "sensitive_included": export.sensitive_included,
        "release": export.release_name or None,
        "rows_total": export.rows_total,
        "rows_done": export.rows_done,
        "progress_percent": export.progress_percent,
        "sha256": export.sha256 or None,
        "manifest": export.manifest or None,
        "files": [
            {
                "format": f.format,
                "download_name": f.download_name,
                "sha256": f.sha256,
                "size_bytes": f.size_bytes,
                "download_url": reverse("api-export-download", args=[export.pk])
                + f"?file_format={f.format}",
            }
            for f in export.files.all()
        ],
        "diff": ({"previous": None} | export.diff) if export.diff else None,
        "release_url": reverse("dataset-release", args=[export.pk])
        if export.status in (ExportStatus.READY, ExportStatus.EXPIRED)
        else None,
        "expires_at": export.expires_at.isoformat() if export.expires_at else None,
        "error": export.error or None,
    }


def dataset_preview(*, workflow, filters) -> dict:
    """What an export with this spec would hold: counts and the first rows, before requesting.

    Samples are always shown with sensitive fields protected: the preview is seen before anyone
    approved including them. Raises ``SpecInvalid`` for a bad spec.
    """
    clean = spec_filters_parse(workflow=workflow, filters=filters)
    by_split: Counter[str] = Counter()
    by_class: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    total = 0
    sensitive = sensitive_fields(workflow)
    encoder = RowEncoder(sensitive)
    samples: list[dict] = []
    for values in spec_rows(workflow=workflow, filters=clean):
        row, _ = encoder.row(values)
        total += 1
        by_split[row.split] += 1
        by_class[output_class(row.human_output.value)] += 1
        by_reason.update(row.reason_codes.value)
        if len(samples) < PREVIEW_SAMPLES:
            samples.append(row.as_dict())
    return {
        "workflow": workflow.slug,
        "filters": clean,
        "rows": total,
        "by_class": dict(sorted(by_class.items())),
        "by_reason": dict(sorted(by_reason.items())),
        "by_split": {name: by_split.get(name, 0) for name, _ in SPLITS},
        "sensitive_fields": sensitive,
        "samples": samples,
    }


@dataclass(frozen=True)
class ReleaseDetails:
    """What the release page shows; every value ready for people."""

    export: DatasetExport
    files: list
    manifest: dict
    filters: list[tuple[str, str]]
    fields: list[tuple[str, str]]
    approvals: list
    limits: list[str]
    lineage: dict
    diff: dict
    # (class, rows before, rows now, change) over the classes of both releases.
    label_change: list[tuple[str, int | None, int, int | None]] = field(default_factory=list)


def _filter_rows(filters: dict) -> list[tuple[str, str]]:
    rows = []
    for name, value in filters.items():
        if name == "decision":
            text = DECISIONS.get(value, str(value))
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        rows.append((name.replace("_", " ").capitalize(), text))
    return rows


def release_details(export: DatasetExport) -> ReleaseDetails:
    """A built release as its page shows it. ``Http404`` while it is not built yet."""
    if export.status not in (ExportStatus.READY, ExportStatus.EXPIRED):
        raise Http404("This export is not a built release yet.")
    manifest = export.manifest or {}
    preferences = export.format == ExportFormat.PREFERENCE_JSONL
    diff = dict(export.diff)
    label_change: list[tuple[str, int | None, int, int | None]] = []
    previous = None
    if diff.get("previous_id"):
        previous = DatasetExport.objects.filter(pk=diff["previous_id"]).first()
    if previous is not None:
        before = previous.manifest.get("counts", {}).get("by_class", {})
        now = manifest.get("counts", {}).get("by_class", {})
        for name in sorted(set(before) | set(now)):
            old, new = before.get(name), now.get(name, 0)
            label_change.append((name, old, new, new - (old or 0)))
    return ReleaseDetails(
        export=export,
        files=list(export.files.all()),
        manifest=manifest,
        filters=_filter_rows(export.filters),
        fields=[(c.name, c.note) for c in (PREFERENCE_ROW if preferences else ROW)],
        approvals=list(export.approvals.select_related("approver")),
        limits=known_limits(export, manifest) if manifest else [],
        lineage=manifest.get("lineage") or {},
        diff=diff,
        label_change=label_change,
    )


def spec_form_choices(*, workflows) -> dict:
    """Queues and reason codes the spec form offers, for the workflows the user may export."""
    from reviewapp.review.corrections.models import ReasonCode
    from reviewapp.review.reviews.models import Queue

    return {
        "queues": list(
            Queue.objects.filter(workflow__in=workflows)
            .order_by("slug")
            .values_list("slug", "name")
            .distinct()
        ),
        "reason_codes": list(
            ReasonCode.objects.filter(workflow__in=workflows)
            .order_by("code")
            .values_list("code", "label")
            .distinct()
        ),
    }


__all__ = [
    "PREVIEW_SAMPLES",
    "SpecInvalid",
    "dataset_preview",
    "export_summary",
    "release_details",
    "spec_form_choices",
]
