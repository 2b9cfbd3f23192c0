from django.conf import settings
from django.db import models


class Queue(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="queues")
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="queues"
    )
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [
            ("review_queue", "Can claim and decide tasks in the queue"),
            ("manage_queue", "Can manage the queue and its tasks"),
        ]

    def __str__(self) -> str:
        return self.name


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    DECIDED = "decided", "Decided"
    CANCELLED = "cancelled", "Cancelled"


# Tasks whose SLA clock runs. The SLA indexes below spell this list out in their conditions and
# the sweep filters with the same list, so that PostgreSQL can use them.
LIVE_STATUSES = [TaskStatus.OPEN, TaskStatus.CLAIMED]


class ReviewTask(models.Model):
    item = models.ForeignKey("workflows.Item", on_delete=models.PROTECT, related_name="tasks")
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="tasks")
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    priority = models.SmallIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    # SLA facts beside the state, written by reviewapp.sla: when the task will turn at risk
    # (warn_at), when it did (at_risk_at) and when it breached (breached_at), how many
    # escalation rungs fired and when the next is due. They are never cleared, so moving the
    # clock back undoes nothing. While ``paused_at`` is set none of them advances.
    warn_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Fencing token: a decision must present the token of the current claim.
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The claim scans open tasks of one queue in claim order; claimed and decided rows
            # (the vast majority over time) stay out of the index.
            models.Index(
                fields=["queue", "-priority", "created_at", "id"],
                condition=models.Q(status="open"),
                name="task_claimable_idx",
            ),
            # The lease sweep looks only at claimed rows.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="claimed"),
                name="task_lease_idx",
            ),
            # The SLA sweep: one partial index per thing it waits for, each holding only live,
            # unpaused tasks still waiting for it, so a sweep over a million open tasks reads
            # just the rows that are due (see reviewapp/sla/services.py).
            models.Index(
                fields=["warn_at"],
                condition=models.Q(
                    status__in=LIVE_STATUSES,
                    paused_at__isnull=True,
                    at_risk_at__isnull=True,
                    warn_at__isnull=False,
                ),
                name="task_sla_warn_idx",
            ),
            models.Index(
                fields=["due_at"],
                condition=models.Q(
                    status__in=LIVE_STATUSES,
                    paused_at__isnull=True,
                    breached_at__isnull=True,
                    due_at__isnull=False,
                ),
                name="task_sla_due_idx",
            ),
            models.Index(
                fields=["next_escalation_at"],
                condition=models.Q(
                    status__in=LIVE_STATUSES,
                    paused_at__isnull=True,
                    next_escalation_at__isnull=False,
                ),
                name="task_sla_escalation_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.status})"


class DecisionOutcome(models.TextChoices):
    ACCEPT = "accept", "Accept"
    CORRECT = "correct", "Correct"
    REJECT = "reject", "Reject"


class Decision(models.Model):
    task = models.OneToOneField(ReviewTask, on_delete=models.PROTECT, related_name="decision")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=DecisionOutcome.choices)
    output = models.JSONField(help_text="The output the item ends with")
    reason_codes = models.ManyToManyField("corrections.ReasonCode", blank=True, related_name="+")
    comment = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.outcome} on task {self.task_id}"


class TaskSkip(models.Model):
    """A reviewer passed a task back to the queue, and why.

    The claim leaves out tasks the reviewer skipped (``NOT EXISTS`` on this table, served by
    ``task_skip_idx``), so "Review next" after a skip does not hand the same task straight back.
    Not unique: a manager may assign a skipped task to the same reviewer, who may skip it again.
    """

    # No index of its own: task_skip_idx starts with the task.
    task = models.ForeignKey(
        ReviewTask, on_delete=models.CASCADE, related_name="skips", db_index=False
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    skipped_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The claim's anti-join probes (task, reviewer) once per candidate task.
            models.Index(fields=["task", "reviewer"], name="task_skip_idx"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} skipped by {self.reviewer_id}"
