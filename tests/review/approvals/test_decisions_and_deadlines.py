"""What decides an approval: a reviewer in time, or the workflow's deadline policy; an answer
after the deadline is recorded and never applied."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.approvals.models import Approval
from reviewapp.review.approvals.selectors import approval_summary
from reviewapp.review.approvals.services import ApprovalAsk, approval_request
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from reviewapp.review.sla.tasks import sweep
from workflows.models import Item, ItemOutcome, ItemStatus, WorkflowVersion
from workflows.pipeline.engine import item_resume_after_review

ARGUMENTS = {"order": "A-17", "amount": 120}


def request(workflow, *, risk="medium", deadline=None, key=None, submitted_by=None):
    approval, _ = approval_request(
        workflow=workflow,
        ask=ApprovalAsk(
            tool="refund",
            arguments=ARGUMENTS,
            risk_level=risk,
            requested_by="billing-agent",
            deadline_seconds=deadline,
            idempotency_key=key,
        ),
        submitted_by=submitted_by,
    )
    return approval


def with_policy(workflow, **approval_policy):
    """Publish a new version of the approval workflow with another deadline policy."""
    current = workflow.current_version
    definition = current.definition | {"approval": current.definition["approval"] | approval_policy}
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=current.number + 1, definition=definition, checksum="test"
    )
    workflow.current_version = version
    workflow.save(update_fields=["current_version"])
    return workflow


def claim(reviewer, approval):
    task = review_task_claim(
        queue=ReviewTask.objects.filter(item_id=approval.pk).first().queue, reviewer=reviewer
    )
    assert task is not None and task.item_id == approval.pk
    return task


def decide(task, reviewer, outcome, **extra):
    return review_task_decide(
        task=task, reviewer=reviewer, claim_token=task.claim_token, outcome=outcome, **extra
    )


def status(approval):
    return approval_summary(approval)


def actions(approval):
    return list(
        AuditEvent.objects.filter(object_id=str(approval.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )


# --- a reviewer decides in time ------------------------------------------------------------------


def test_an_accept_approves_the_arguments_as_asked(agent_actions, reviewer, integrator):
    approval = request(agent_actions, submitted_by=integrator)
    decide(claim(reviewer, approval), reviewer, "accept")
    assert status(approval)["status"] == "pending"  # until the item resumes, in a worker

    assert item_resume_after_review(item_id=approval.pk) is True

    body = status(approval)
    assert body["status"] == "approved"
    assert body["approved_arguments"] == ARGUMENTS
    assert body["edited"] is False
    assert body["decided_by"] == "reviewer"


def test_a_correction_approves_the_edited_arguments_with_its_reasons(agent_actions, reviewer):
    approval = request(agent_actions)
    edited = {"order": "A-17", "amount": 60}
    decide(
        claim(reviewer, approval),
        reviewer,
        "correct",
        output={"arguments": edited},
        reason_codes=["unsafe-arguments/amount-too-high"],
        comment="Half now, the rest after the parcel is found.",
    )
    item_resume_after_review(item_id=approval.pk)

    body = status(approval)
    assert body["status"] == "approved"
    assert body["approved_arguments"] == edited
    assert body["edited"] is True
    assert body["reason_codes"] == ["unsafe-arguments/amount-too-high"]
    assert body["comment"].startswith("Half now")


def test_a_rejection_denies(agent_actions, reviewer):
    approval = request(agent_actions)
    decide(claim(reviewer, approval), reviewer, "reject", reason_codes=["not-allowed"])
    item_resume_after_review(item_id=approval.pk)

    body = status(approval)
    assert body["status"] == "denied"
    assert body["approved_arguments"] is None
    assert body["reason_codes"] == ["not-allowed"]


def test_a_four_eyes_approval_waits_for_the_second_reviewer(
    agent_actions, reviewer, second_reviewer
):
    approval = request(agent_actions, risk="critical")
    decide(claim(reviewer, approval), reviewer, "accept")
    assert item_resume_after_review(item_id=approval.pk) is False
    assert status(approval)["status"] == "pending"

    decide(claim(second_reviewer, approval), second_reviewer, "accept")
    assert item_resume_after_review(item_id=approval.pk) is True
    assert status(approval)["status"] == "approved"


def test_a_decision_in_time_stands_even_when_its_resume_comes_after_the_deadline(
    agent_actions, reviewer
):
    """The worker was down when the reviewer decided: the sweep must not deny it meanwhile."""
    approval = request(agent_actions)
    decide(claim(reviewer, approval), reviewer, "accept")

    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        result = sweep()
    assert result["approvals_decided_in_time"] == 1
    assert Item.objects.get(pk=approval.pk).status == ItemStatus.AWAITING_REVIEW

    item_resume_after_review(item_id=approval.pk)
    assert status(approval)["status"] == "approved"


# --- the deadline ------------------------------------------------------------------------------


def test_nobody_deciding_denies_at_the_deadline_by_default(agent_actions):
    approval = request(agent_actions)
    with time_machine.travel(approval.deadline_at - timedelta(seconds=1), tick=False):
        assert sweep()["approvals_deadline_applied"] == 0
    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        assert sweep()["approvals_deadline_applied"] == 1
        assert sweep()["approvals_deadline_applied"] == 0  # once

    body = status(approval)
    assert body["status"] == "denied"
    assert body["decided_by"] == "deadline"
    item = Item.objects.get(pk=approval.pk)
    assert item.outcome == ItemOutcome.REJECTED
    assert ReviewTask.objects.get(item_id=approval.pk).status == TaskStatus.CANCELLED
    assert "approval.deadline_applied" in actions(approval)


def test_the_approve_policy_approves_the_arguments_as_asked(agent_actions):
    approval = request(with_policy(agent_actions, on_deadline="approve"))
    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        sweep()

    body = status(approval)
    assert body["status"] == "approved"
    assert body["approved_arguments"] == ARGUMENTS
    assert body["decided_by"] == "deadline"


def test_the_escalate_policy_breaches_the_task_then_denies_after_a_second_window(agent_actions):
    approval = request(with_policy(agent_actions, on_deadline="escalate"), deadline=600)
    first_deadline = approval.deadline_at
    with time_machine.travel(first_deadline + timedelta(seconds=1), tick=False):
        result = sweep()
    assert result["approvals_escalated"] == 1
    approval.refresh_from_db()
    assert approval.escalated_at is not None
    second_window = approval.deadline_at - (first_deadline + timedelta(seconds=1))
    assert abs(second_window.total_seconds() - 600) < 1
    assert ReviewTask.objects.get(item_id=approval.pk).breached_at is not None
    assert status(approval)["status"] == "pending"

    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        sweep()
    body = status(approval)
    assert body["status"] == "denied"
    assert body["decided_by"] == "deadline"


def test_a_request_may_ask_for_a_shorter_deadline(agent_actions):
    before = timezone.now()
    approval = request(agent_actions, deadline=30)

    assert (
        before + timedelta(seconds=29)
        < approval.deadline_at
        <= timezone.now() + timedelta(seconds=30)
    )


# --- late answers ------------------------------------------------------------------------------


def test_an_answer_after_the_sweep_applied_the_deadline_is_recorded_not_applied(
    agent_actions, reviewer
):
    approval = request(agent_actions, deadline=60)
    task = claim(reviewer, approval)
    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        sweep()
        # The claimed task stayed with its reviewer, who answers now.
        decision = decide(task, reviewer, "accept")

    assert Decision.objects.filter(pk=decision.pk).exists()
    assert "approval.answer_late" in actions(approval)
    assert item_resume_after_review(item_id=approval.pk) is False
    assert status(approval)["status"] == "denied"


def test_an_answer_after_the_deadline_but_before_the_sweep_is_not_applied_either(
    agent_actions, reviewer
):
    approval = request(agent_actions, deadline=60)
    task = claim(reviewer, approval)
    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        decide(task, reviewer, "accept")
        assert sweep()["approvals_deadline_applied"] == 0  # the answer applied it already

    assert item_resume_after_review(item_id=approval.pk) is False
    body = status(approval)
    assert body["status"] == "denied"
    assert body["decided_by"] == "deadline"
    assert actions(approval).count("approval.answer_late") == 1


def test_a_late_correction_is_not_labeled_data(agent_actions, reviewer):
    from reviewapp.review.corrections.models import Correction

    approval = request(agent_actions, deadline=60)
    task = claim(reviewer, approval)
    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        decide(
            task, reviewer, "correct", output={"arguments": {"x": 1}}, reason_codes=["wrong-target"]
        )

    assert not Correction.objects.exists()


@pytest.mark.parametrize("policy", ["deny", "approve"])
def test_an_answer_in_the_escalation_window_counts(agent_actions, reviewer, policy):
    approval = request(with_policy(agent_actions, on_deadline="escalate"), deadline=60)
    task = claim(reviewer, approval)
    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        sweep()
        decide(
            task,
            reviewer,
            "accept" if policy == "approve" else "reject",
            reason_codes=[] if policy == "approve" else ["not-allowed"],
        )
        item_resume_after_review(item_id=approval.pk)

    body = status(approval)
    assert body["status"] == ("approved" if policy == "approve" else "denied")
    assert body["decided_by"] == "reviewer"


def test_a_webhook_is_signed_and_sent_once_the_approval_is_decided(agent_actions, reviewer):
    from workflows.models import WebhookDelivery

    workflow = with_policy(agent_actions)
    version = workflow.current_version
    definition = version.definition | {
        "webhook": {"url": "https://agents.example.com/hooks", "secret_env": "AGENT_HOOK_SECRET"}
    }
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=version.number + 1, definition=definition, checksum="hook"
    )
    workflow.current_version = version
    workflow.save(update_fields=["current_version"])
    approval = request(workflow)
    decide(claim(reviewer, approval), reviewer, "accept")
    item_resume_after_review(item_id=approval.pk)
    item_resume_after_review(item_id=approval.pk)

    (delivery,) = WebhookDelivery.objects.filter(item_id=approval.pk)
    assert delivery.event == "item.completed"
    assert delivery.payload["item"]["id"] == approval.pk
    assert delivery.payload["item"]["final_output"] == {"arguments": ARGUMENTS}


def test_the_approval_is_one_row_per_item(agent_actions):
    approval = request(agent_actions, key="k")
    assert request(agent_actions, key="k").pk == approval.pk
    assert Approval.objects.count() == 1


def test_a_claim_held_past_the_deadline_is_cancelled_when_its_lease_runs_out(
    agent_actions, reviewer
):
    from reviewapp.review.reviews.claims import review_tasks_release_expired

    approval = request(agent_actions, deadline=60)
    task = claim(reviewer, approval)
    with time_machine.travel(approval.deadline_at + timedelta(seconds=1), tick=False):
        sweep()
    with time_machine.travel(task.lease_expires_at + timedelta(seconds=1), tick=False):
        assert review_tasks_release_expired() == 0

    assert ReviewTask.objects.get(pk=task.pk).status == TaskStatus.CANCELLED
