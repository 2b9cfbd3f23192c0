"""Dataset exports a user may see or act on (through ``reviewapp.core.permissions``)."""

from django.db.models import QuerySet
from django.http import Http404

from reviewapp.core.permissions import APPROVE_EXPORT, REQUEST_EXPORT, User, user_can
from reviewapp.learn.datasets.models import DatasetExport
from workflows.access import workflows_for_user


def get_export_for_user(user: User, export_id: int, perm: str = REQUEST_EXPORT) -> DatasetExport:
    """An export is visible to whoever may request or approve exports of its workflow."""
    try:
        export = DatasetExport.objects.select_related("workflow", "requested_by").get(pk=export_id)
    except (DatasetExport.DoesNotExist, ValueError, TypeError):
        raise Http404("No such export.") from None
    if not (
        user_can(user, perm, export.workflow) or user_can(user, APPROVE_EXPORT, export.workflow)
    ):
        raise Http404("No such export.")
    return export


def exports_for_user(user: User) -> QuerySet[DatasetExport]:
    workflows = workflows_for_user(user, REQUEST_EXPORT) | workflows_for_user(user, APPROVE_EXPORT)
    return (
        DatasetExport.objects.filter(workflow__in=workflows)
        .select_related("workflow", "requested_by", "decided_by")
        .prefetch_related("files")
    )
