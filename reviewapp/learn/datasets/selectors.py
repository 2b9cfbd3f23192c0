from collections import Counter

from reviewapp.learn.datasets.filters import SpecInvalid, spec_filters_parse
from reviewapp.learn.datasets.models import DatasetExport
from reviewapp.learn.datasets.protection import sensitive_fields
from reviewapp.learn.datasets.row import RowEncoder
from reviewapp.learn.datasets.specs import output_class, spec_rows
from reviewapp.learn.datasets.splits import SPLITS

PREVIEW_SAMPLES = 20


def export_summary(export: DatasetExport) -> dict:
    return {
        "id": export.pk,
        "workflow": export.workflow.slug,
        "format": export.format,
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
    "spec_form_choices",
]
