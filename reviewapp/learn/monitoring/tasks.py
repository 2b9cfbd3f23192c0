from celery import shared_task

from reviewapp.learn.monitoring.drift import drift_check
from reviewapp.learn.monitoring.services import accuracy_floor_check
from workflows.models import Workflow


@shared_task(name="monitoring.check_accuracy_floors")
def check_accuracy_floors() -> dict:
    """Beat sweep: every workflow whose policy declares an accuracy floor."""
    checked = raised = 0
    for workflow in Workflow.objects.filter(current_version__isnull=False).select_related(
        "current_version"
    ):
        verdict = accuracy_floor_check(workflow=workflow)
        if verdict is not None:
            checked += 1
            raised += int(verdict.raised)
    return {"checked": checked, "raised": raised}


@shared_task(name="monitoring.check_drift")
def check_drift() -> dict:
    """Beat sweep: a drift check of every workflow's current version."""
    checked = drifted = 0
    for workflow in Workflow.objects.filter(current_version__isnull=False).select_related(
        "current_version"
    ):
        check = drift_check(workflow=workflow)
        if check is not None and check.features:
            checked += 1
            drifted += int(check.drifted)
    return {"checked": checked, "drifted": drifted}
