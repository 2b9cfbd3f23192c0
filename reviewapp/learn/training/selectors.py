"""Reads of canaries and training runs for the API and pages."""

from django.db.models import QuerySet

from workflows.models import ModelVersion, Workflow


def canary_summary(canary) -> dict:
    return {
        "id": canary.pk,
        "stable": str(canary.stable),
        "candidate": str(canary.candidate),
        "percent": canary.percent,
        "min_sample": canary.min_sample,
        "gates": canary.gates,
        "status": canary.status,
        "reason": canary.reason or None,
        "started_at": canary.started_at.isoformat(),
        "ended_at": canary.ended_at.isoformat() if canary.ended_at else None,
        "last_evaluation": canary.last_evaluation or None,
    }


def training_run_summary(run) -> dict:
    return {
        "id": run.pk,
        "workflow": run.workflow.slug,
        "release": run.release.release_name,
        "export_id": run.release_id,
        "status": run.status,
        "progress": run.progress,
        "stage": run.stage,
        "base": str(run.base) if run.base else None,
        "candidate": str(run.candidate) if run.candidate else None,
        "metrics": run.metrics or None,
        "error": run.error or None,
        "requested_by": run.requested_by.get_username() if run.requested_by else None,
        "requested_at": run.requested_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def training_runs_for_workflow(workflow):
    return workflow.training_runs.select_related(
        "workflow", "release", "base", "candidate", "requested_by"
    )


def candidate_models(workflow: Workflow) -> QuerySet[ModelVersion]:
    """Models that could replace the workflow's own: in a canary or as a shadow."""
    assert workflow.current_version is not None
    binding = workflow.current_version.definition["model"]
    return ModelVersion.objects.exclude(name=binding["name"], version=binding["version"]).order_by(
        "name", "version"
    )
