"""An approval: an action an agent wants to take, held until a person (or the deadline) decides.

The approval is an item of an approval workflow (same id): its input is the proposed action,
its review tasks are ordinary ones in the workflow's queue, and its outcome is the item's
(accepted or corrected: approved, the corrected arguments being the edited ones; rejected:
denied). This row adds what the review machinery does not know: the deadline and what happens
when it passes.
"""

from django.db import models


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class DeadlinePolicy(models.TextChoices):
    DENY = "deny", "Deny (fail closed)"
    APPROVE = "approve", "Approve"
    ESCALATE = "escalate", "Escalate, then deny"


class Approval(models.Model):
    item = models.OneToOneField(
        "workflows.Item", primary_key=True, on_delete=models.PROTECT, related_name="approval"
    )
    tool = models.CharField(max_length=200)
    risk_level = models.CharField(max_length=20, choices=RiskLevel.choices)
    # Who asked, in the agent's own words (an agent name, a run id); the API user is the item's
    # submitter.
    requested_by = models.CharField(max_length=200)
    deadline_at = models.DateTimeField()
    on_deadline = models.CharField(max_length=20, choices=DeadlinePolicy.choices)
    # Set when an ``escalate`` deadline passed and the approval got its second (last) window.
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Set once the sweep has dealt with the passed deadline (applied it, or found the approval
    # decided in time); ``decided_by_deadline`` says which.
    deadline_passed = models.BooleanField(default=False)
    decided_by_deadline = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The deadline sweep reads only approvals whose deadline it has not dealt with yet.
            models.Index(
                fields=["deadline_at"],
                condition=models.Q(deadline_passed=False),
                name="approval_deadline_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"approval {self.pk}: {self.tool}"
