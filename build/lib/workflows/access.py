"""The workflows a user may see or act on (through ``reviewapp.core.permissions``)."""

from django.db.models import QuerySet
from django.http import Http404

from reviewapp.core.permissions import VIEW_WORKFLOW, User, objects_for_user, user_can
from workflows.models import Workflow


def workflows_for_user(user: User, perm: str = VIEW_WORKFLOW) -> QuerySet[Workflow]:
    return objects_for_user(user, perm, Workflow)


def get_workflow_for_user(user: User, slug: str, perm: str = VIEW_WORKFLOW) -> Workflow:
    try:
        workflow = Workflow.objects.select_related("current_version").get(slug=slug)
    except Workflow.DoesNotExist:
        raise Http404("No such workflow.") from None
    if not user_can(user, perm, workflow):
        raise Http404("No such workflow.")
    return workflow
