from reviewapp.datasets.models import DatasetExport


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
        "rows_total": export.rows_total,
        "rows_done": export.rows_done,
        "progress_percent": export.progress_percent,
        "sha256": export.sha256 or None,
        "manifest": export.manifest or None,
        "expires_at": export.expires_at.isoformat() if export.expires_at else None,
        "error": export.error or None,
    }
