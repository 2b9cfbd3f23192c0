"""Approvals: an agent asks, a person (or the deadline policy) decides, exactly once.

- ``approval_request`` stores the proposed action as an item of an approval workflow, with the
  agent's proposal as the "model output" a reviewer accepts (approve), corrects (approve with
  edited arguments, with reasons) or rejects (deny), and opens its review tasks (two for a
  four-eyes risk level) due at the approval's deadline. Idempotent per ``Idempotency-Key``.
- A person's decision settles the item through the usual seam (a worker resumes it); the item's
  ``item.completed`` webhook and an announcement to waiting agents follow the commit.
- ``approvals_deadline_sweep`` (run by the SLA sweep) applies the deadline policy to approvals
  nobody decided in time. A decision that arrives after the deadline is recorded (the decision
  row, an ``approval.answer_late`` event) and never applied.

Lock order, everywhere: the item's review tasks, then the approval and its item. A reviewer's
decision holds its task when it reaches ``approval_task_decided``; the sweep takes the tasks
before the approval, so the two queue instead of deadlocking.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewapp.core.audit.services import AuditEntry, audit_record_many
from reviewapp.core.errors import InvalidRequest
from reviewapp.review.approvals.models import Approval, DeadlinePolicy
from reviewapp.review.approvals.policy import (
    RISK_PRIORITY,
    RISK_UNCERTAINTY,
    approval_policy_of,
)
from reviewapp.review.reviews.events import task_audit_entry
from reviewapp.review.reviews.hooks import DecisionEffects
from reviewapp.review.reviews.models import LIVE_STATUSES, ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_tasks_open
from workflows import seams
from workflows.ingest.services import IdempotencyConflict, request_hash
from workflows.models import (
    Item,
    ItemOutcome,
    ItemStatus,
    ModelAdapterKind,
    ModelVersion,
    Prediction,
    Workflow,
)
from workflows.pipeline.engine import item_complete_by_policy
from workflows.schemas import schema_errors

FOUR_EYES = "four_eyes"
# The routing "rule" of an approval's item: how a review hook tells approvals apart.
APPROVAL_RULE = "approval"


class ApprovalInvalid(InvalidRequest):
    detail = "The approval request is not valid."


@dataclass(frozen=True)
class ApprovalAsk:
    """What an agent asks to do."""

    tool: str
    arguments: dict
    risk_level: str
    requested_by: str
    context: object = None
    deadline_seconds: int | None = None
    idempotency_key: str | None = None


def approval_request(
    *, workflow: Workflow, ask: ApprovalAsk, submitted_by=None, correlation_id: str = ""
) -> tuple[Approval, bool]:
    """Store the request and open its review; returns ``(approval, created)``.

    The same idempotency key with the same request returns the stored approval (whatever its
    state); with another request it is a conflict.
    """
    version = workflow.current_version
    assert version is not None, "a workflow without a version cannot take approvals"
    policy = approval_policy_of(version.definition)
    if policy is None:
        raise ApprovalInvalid({"workflow": ["This workflow does not take approval requests."]})
    errors: dict[str, list[str]] = {}
    for path, messages in schema_errors(version.definition["input_schema"], _input(ask)).items():
        errors[path] = messages
    if ask.deadline_seconds is not None and ask.deadline_seconds > policy.max_deadline_seconds:
        errors["deadline_seconds"] = [
            f"This workflow allows at most {policy.max_deadline_seconds} seconds."
        ]
    if errors:
        raise ApprovalInvalid(errors)
    try:
        return _store(workflow, ask, submitted_by, correlation_id)
    except IntegrityError:
        # A concurrent request stored the same key between our lookup and insert: replay now.
        return _store(workflow, ask, submitted_by, correlation_id)


def _input(ask: ApprovalAsk) -> dict:
    data: dict[str, object] = {
        "tool": ask.tool,
        "arguments": ask.arguments,
        "risk_level": ask.risk_level,
        "requested_by": ask.requested_by,
    }
    if ask.context is not None:
        data["context"] = ask.context
    return data


def _proposal_model(definition: dict) -> ModelVersion:
    """The agent stands where a model would: its proposal is the output a reviewer judges."""
    model, _ = ModelVersion.objects.get_or_create(
        name=definition["model"]["name"],
        version=definition["model"]["version"],
        defaults={"adapter": ModelAdapterKind.AGENT, "labels": []},
    )
    return model


@transaction.atomic(durable=True)
def _store(workflow: Workflow, ask: ApprovalAsk, submitted_by, correlation_id: str):
    version = workflow.current_version
    assert version is not None
    definition = version.definition
    policy = approval_policy_of(definition)
    assert policy is not None
    data = _input(ask)
    # The deadline is part of what was asked: a replay asking another deadline is another request.
    digest = request_hash({"input": data, "deadline_seconds": ask.deadline_seconds})
    if ask.idempotency_key:
        stored = (
            Approval.objects.select_related("item")
            .filter(item__workflow=workflow, item__idempotency_key=ask.idempotency_key)
            .first()
        )
        if stored is not None:
            if stored.item.request_hash != digest:
                raise IdempotencyConflict(ask.idempotency_key)
            return stored, False
    now = timezone.now()
    window = timedelta(seconds=ask.deadline_seconds or policy.deadline_seconds)
    four_eyes = ask.risk_level in policy.four_eyes_risk
    queue_slug = definition["queue"]
    item = Item.objects.create(
        workflow=workflow,
        workflow_version=version,
        status=ItemStatus.AWAITING_REVIEW,
        current_step="",
        input=data,
        idempotency_key=ask.idempotency_key,
        request_hash=digest,
        correlation_id=correlation_id,
        submitted_by=submitted_by,
        routing={
            "action": FOUR_EYES if four_eyes else "review",
            "queue": queue_slug,
            "rule": APPROVAL_RULE,
            "explanation": f"An agent asks to run {ask.tool} ({ask.risk_level} risk)"
            + (": two reviewers must agree." if four_eyes else "."),
        },
    )
    item.prediction = Prediction.objects.create(
        item=item,
        model_version=_proposal_model(definition),
        output={"arguments": ask.arguments},
        confidence=1.0 - RISK_UNCERTAINTY[ask.risk_level],
        probabilities={},
        latency_ms=0.0,
    )
    approval = Approval.objects.create(
        item=item,
        tool=ask.tool,
        risk_level=ask.risk_level,
        requested_by=ask.requested_by,
        deadline_at=now + window,
        on_deadline=policy.on_deadline,
    )
    audit_record_many(
        [
            AuditEntry(
                action="item.received",
                obj=item,
                actor=submitted_by,
                data={"workflow_version": version.number, "correlation_id": correlation_id},
            ),
            AuditEntry(
                action="approval.requested",
                obj=item,
                actor=submitted_by,
                data={
                    "tool": ask.tool,
                    "risk_level": ask.risk_level,
                    "requested_by": ask.requested_by,
                    "deadline_at": approval.deadline_at.isoformat(),
                    "on_deadline": approval.on_deadline,
                    "four_eyes": four_eyes,
                },
            ),
            AuditEntry(
                action="item.sent_to_review",
                obj=item,
                actor=submitted_by,
                data={"queue": queue_slug, "routing": item.routing},
            ),
        ],
        chain=workflow.audit_chain,
    )
    review_tasks_open(openings=[(item, queue_slug, RISK_PRIORITY[ask.risk_level])])
    # The reviewers' SLA clock is the approval's deadline: they see how long the agent waits.
    ReviewTask.objects.filter(item=item).update(
        due_at=approval.deadline_at, warn_at=now + window * 0.8
    )
    return approval, True


# --- a person's decision -----------------------------------------------------------------------


def approval_task_decided(*, task: ReviewTask, decision) -> DecisionEffects:
    """Review hook, in the decision's transaction: a decision after the deadline is recorded
    (the decision row stays) and never applied; the deadline policy decides instead."""
    # Read from the item the decision already loaded: other items cost no query here.
    if (task.item.routing or {}).get("rule") != APPROVAL_RULE:
        return DecisionEffects()
    approval = Approval.objects.select_for_update().filter(pk=task.item_id).first()
    if approval is None:
        return DecisionEffects()
    item = (
        Item.objects.select_for_update(of=("self",))
        .select_related("workflow", "workflow_version")
        .get(pk=task.item_id)
    )
    now = timezone.now()
    if item.status == ItemStatus.AWAITING_REVIEW and now < approval.deadline_at:
        return DecisionEffects()
    # Past the deadline, before the sweep came by: the policy decides now.
    if (
        item.status == ItemStatus.AWAITING_REVIEW
        and _deadline_apply(approval, item, now) == "escalated"
    ):
        return DecisionEffects()  # inside the escalation's window: the answer counts
    audit_record_many(
        [
            AuditEntry(
                action="approval.answer_late",
                obj=item,
                actor=decision.reviewer,
                data={
                    "task": task.pk,
                    "outcome": decision.outcome,
                    "output": decision.output,
                    "deadline_at": approval.deadline_at.isoformat(),
                },
            )
        ],
        chain=item.workflow.audit_chain,
    )
    return DecisionEffects(resume=False, labeled=False)


# --- the deadline ------------------------------------------------------------------------------


def approvals_deadline_sweep(*, limit: int = 500) -> dict[str, int]:
    """Deal with every approval whose deadline passed; safe to overlap or run twice."""
    now = timezone.now()
    due = list(
        # Repeats the condition of approval_deadline_idx.
        Approval.objects.filter(deadline_passed=False, deadline_at__lte=now)
        .order_by("deadline_at")
        .values_list("pk", flat=True)[:limit]
    )
    tally = {"deadline_applied": 0, "escalated": 0, "decided_in_time": 0}
    for approval_id in due:
        result = approval_deadline_pass(approval_id=approval_id)
        if result in tally:
            tally[result] += 1
    return {f"approvals_{name}": count for name, count in tally.items()}


@transaction.atomic(durable=True)
def approval_deadline_pass(*, approval_id: int) -> str:
    """Apply the deadline policy to one approval if nobody decided it in time."""
    list(ReviewTask.objects.select_for_update().filter(item_id=approval_id).order_by("pk"))
    approval = Approval.objects.select_for_update().filter(pk=approval_id).first()
    now = timezone.now()
    if approval is None or approval.deadline_passed or approval.deadline_at > now:
        return "not_due"
    item = (
        Item.objects.select_for_update(of=("self",))
        .select_related("workflow", "workflow_version")
        .get(pk=approval_id)
    )
    if item.status != ItemStatus.AWAITING_REVIEW or seams.review_verdict(item_id=item.pk):
        # Decided in time; a settled review not yet resumed is finished by its resume task
        # (or the reconciler, when that message was lost).
        approval.deadline_passed = True
        approval.save(update_fields=["deadline_passed"])
        return "decided_in_time"
    return _deadline_apply(approval, item, now)


def _deadline_apply(approval: Approval, item: Item, now: datetime) -> str:
    """The approval's deadline passed undecided: escalate once, or approve, or deny."""
    chain = item.workflow.audit_chain
    if approval.on_deadline == DeadlinePolicy.ESCALATE and approval.escalated_at is None:
        window = approval.deadline_at - item.created_at
        approval.escalated_at = now
        approval.deadline_at = now + window
        approval.save(update_fields=["escalated_at", "deadline_at"])
        # Due now: the SLA sweep breaches the tasks and moves them up the escalation ladder.
        ReviewTask.objects.filter(
            item=item, status__in=LIVE_STATUSES, breached_at__isnull=True
        ).update(due_at=now)
        audit_record_many(
            [
                AuditEntry(
                    action="approval.escalated",
                    obj=item,
                    data={"deadline_at": approval.deadline_at.isoformat()},
                )
            ],
            chain=chain,
        )
        return "escalated"
    approve = approval.on_deadline == DeadlinePolicy.APPROVE
    item_complete_by_policy(
        item=item,
        outcome=ItemOutcome.AUTO_ACCEPTED if approve else ItemOutcome.REJECTED,
        output={"arguments": item.input["arguments"]} if approve else {},
        reason=f"approval deadline ({approval.on_deadline})",
    )
    approval.deadline_passed = True
    approval.decided_by_deadline = True
    approval.save(update_fields=["deadline_passed", "decided_by_deadline"])
    # Open tasks go; a claimed one stays with its reviewer, whose answer is recorded as late.
    cancelled = list(
        ReviewTask.objects.select_related("queue__workflow").filter(
            item=item, status=TaskStatus.OPEN
        )
    )
    ReviewTask.objects.filter(pk__in=[task.pk for task in cancelled]).update(
        status=TaskStatus.CANCELLED
    )
    audit_record_many(
        [
            AuditEntry(
                action="approval.deadline_applied",
                obj=item,
                data={"policy": approval.on_deadline, "approved": approve},
            ),
            *(
                task_audit_entry(task, "task.cancelled", reason="approval deadline")
                for task in cancelled
            ),
        ],
        chain=chain,
    )
    return "deadline_applied"
