"""What an agent learns about its approval."""

from reviewapp.review.approvals.models import Approval
from reviewapp.review.reviews.models import Decision, TaskStatus
from workflows.models import Item, ItemOutcome, ItemStatus

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"


def approval_settled(*, approval_id: int) -> bool:
    """One indexed read, for the long poll."""
    return Item.objects.filter(pk=approval_id, status=ItemStatus.COMPLETED).exists()


def approval_summary(approval: Approval) -> dict:
    item = Item.objects.select_related("workflow").get(pk=approval.pk)
    # Re-read: the long poll holds an approval loaded before it waited.
    approval = Approval.objects.get(pk=approval.pk)
    status = PENDING
    if item.status == ItemStatus.COMPLETED:
        status = DENIED if item.outcome == ItemOutcome.REJECTED else APPROVED
    body: dict = {
        "id": approval.pk,
        "workflow": item.workflow.slug,
        "tool": approval.tool,
        "arguments": item.input["arguments"],
        "context": item.input.get("context"),
        "risk_level": approval.risk_level,
        "requested_by": approval.requested_by,
        "status": status,
        "approved_arguments": None,
        "edited": False,
        "decided_by": None,
        "decided_at": None,
        "reason_codes": [],
        "comment": "",
        "deadline_at": approval.deadline_at.isoformat(),
        "on_deadline": approval.on_deadline,
        "escalated_at": approval.escalated_at.isoformat() if approval.escalated_at else None,
    }
    if status == PENDING:
        return body
    body["decided_at"] = item.completed_at.isoformat() if item.completed_at else None
    if status == APPROVED:
        body["approved_arguments"] = (item.final_output or {}).get("arguments")
        body["edited"] = item.outcome == ItemOutcome.CORRECTED
    if approval.decided_by_deadline:
        body["decided_by"] = "deadline"
        return body
    body["decided_by"] = "reviewer"
    # The decision the item finished with: the latest in time (a four-eyes pair's settling one).
    decision = (
        Decision.objects.filter(task__item_id=item.pk, task__status=TaskStatus.DECIDED)
        .prefetch_related("reason_codes")
        .order_by("-decided_at", "-pk")
        .first()
    )
    if decision is not None:
        body["reason_codes"] = sorted(code.code for code in decision.reason_codes.all())
        body["comment"] = decision.comment
    return body
