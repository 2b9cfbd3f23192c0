"""The approvals a user may see: those of workflows they may view or submit to."""

from django.http import Http404

from reviewapp.core.permissions import SUBMIT_ITEMS, VIEW_WORKFLOW, User, user_can
from reviewapp.review.approvals.models import Approval


def get_approval_for_user(user: User, approval_id: int) -> Approval:
    try:
        approval = Approval.objects.select_related("item__workflow", "item__workflow_version").get(
            pk=approval_id
        )
    except (Approval.DoesNotExist, ValueError, TypeError):
        raise Http404("No such approval.") from None
    workflow = approval.item.workflow
    if not (user_can(user, VIEW_WORKFLOW, workflow) or user_can(user, SUBMIT_ITEMS, workflow)):
        raise Http404("No such approval.")
    return approval
