from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce


class QueueKind(models.TextChoices):
    # Reviewers accept, correct or reject one model output.
    REVIEW = "review", "Review"
    # Reviewers compare two outputs for the same input (reviewapp.review.pairwise).
    PAIRWISE = "pairwise", "Pairwise comparison"


class Queue(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="queues")
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="queues"
    )
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    # Fixed when the queue is created: the claim, SLA and board treat both kinds alike, but a
    # pairwise task is decided A, B or tie on its own page and never with accept/correct/reject.
    kind = models.CharField(max_length=20, choices=QueueKind.choices, default=QueueKind.REVIEW)
    created_at = models.DateTimeField(auto_now_add=True)
    # Claim order (see review_task_claim_score): how much SLA urgency, priority and model
    # uncertainty each weigh. Written only by queue_claim_settings_set, which re-scores open tasks.
    urgency_weight = models.FloatField(default=10.0)
    priority_weight = models.FloatField(default=1.0)
    uncertainty_weight = models.FloatField(default=1.0)
    # Who may claim here: every skill in this list, and (when language_field names an input
    # field of the items) the item's language among the reviewer's languages.
    required_skills = models.JSONField(default=list, blank=True)
    language_field = models.CharField(max_length=100, blank=True)
    # Most tasks of this queue one reviewer holds at once; empty: only the personal cap counts.
    max_claims_per_reviewer = models.PositiveSmallIntegerField(null=True, blank=True)
    # Escalation notifications are also POSTed here, signed like the workflow webhooks with the
    # secret in the environment variable named by notify_webhook_secret_env.
    notify_webhook_url = models.URLField(max_length=500, blank=True)
    notify_webhook_secret_env = models.CharField(max_length=100, blank=True)
    # What an hour of review here costs, in the currency of the model costs; human cost per
    # item is review time times this (0: not known, counted as nothing).
    review_hourly_cost = models.FloatField(default=0.0)

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


# Where a task without a deadline sorts in "due soonest first": after every deadline. The
# drill-down's keyset pages compare one row of values, so a missing deadline needs a value.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


def due_or_last():
    """The deadline as the drill-down sorts it (task_live_due_idx holds this expression)."""
    return Coalesce(F("due_at"), Value(NO_DEADLINE))


# Tasks whose SLA clock runs. The SLA indexes below spell this list out in their conditions and
# the sweep filters with the same list, so that PostgreSQL can use them.
LIVE_STATUSES = [TaskStatus.OPEN, TaskStatus.CLAIMED]


class ReviewTask(models.Model):
    # No index of its own: task_item_holder_idx starts with the item.
    item = models.ForeignKey(
        "workflows.Item", on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="tasks")
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    priority = models.SmallIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    # SLA facts beside the state, written by reviewapp.review.sla: when the task will turn at risk
    # (warn_at), when it did (at_risk_at) and when it breached (breached_at), how many
    # escalation rungs fired and when the next is due. They are never cleared, so moving the
    # clock back undoes nothing. While ``paused_at`` is set none of them advances.
    warn_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    # What the claim orders by, stored so the claim is one walk down task_claim_order_idx:
    # recomputed whenever an input changes (priority, at risk, breach, pause, the queue's
    # weights). ``uncertainty`` (1 - the prediction's confidence) and ``language`` are copied
    # from the item when the task opens, so the claim never joins predictions or items.
    claim_score = models.FloatField(default=0.0)
    uncertainty = models.FloatField(default=0.0)
    language = models.CharField(max_length=35, blank=True)
    # The item has other review tasks (four-eyes, a senior review): only then does the claim
    # look up who holds or decided those, so the common one-task item costs it nothing.
    shares_item = models.BooleanField(default=False)
    # What the managers' drill-down shows, searches and filters by, copied from the item when
    # the task opens (see reviewapp/review/reviews/subjects.py) so its pages never read items:
    # the item's subject (or first input field), shortened, and the model's predicted label.
    # The subject search is served by a trigram index on PostgreSQL (migration 0010).
    subject = models.CharField(max_length=200, blank=True)
    predicted_label = models.CharField(max_length=100, blank=True)
    # No index of its own: a full one on a million rows that are mostly empty here tempts the
    # planner into reading every task a reviewer ever decided for the claim's anti-join;
    # task_claimed_by_idx (live claims) and task_item_holder_idx serve the real lookups.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # Fencing token: a decision must present the token of the current claim.
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The holder's last sign of life (claim, assignment, heartbeat): idle-claim rungs count from it.
    last_seen_at = models.DateTimeField(null=True, blank=True)
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
            # The claim: open tasks of one queue, best score first, then earliest deadline, oldest.
            models.Index(
                F("queue"),
                F("claim_score").desc(),
                # Ascending puts nulls last on PostgreSQL; SQLite cannot index NULLS LAST.
                F("due_at"),
                F("created_at"),
                F("id"),
                condition=models.Q(status="open"),
                name="task_claim_order_idx",
            ),
            # Capacity caps count a reviewer's live claims (overall and per queue); the board
            # counts claimed tasks per queue. Claimed rows are few, so this index stays small.
            models.Index(
                fields=["claimed_by", "queue"],
                condition=models.Q(status="claimed"),
                name="task_claimed_by_idx",
            ),
            # The claim's "not an item you hold or decided" anti-join probes (item, holder).
            models.Index(fields=["item", "claimed_by"], name="task_item_holder_idx"),
            # The SLA board's drill-down (reviewapp/review/sla/drill_down.py) pages through a
            # queue's live tasks in four orders, each a walk of one of these (keyset pages:
            # a deep page costs what a first one does): due soonest (no deadline last), oldest,
            # highest priority and least confident first, ties oldest first.
            models.Index(
                F("queue"),
                due_or_last(),
                F("created_at"),
                F("id"),
                condition=models.Q(status__in=LIVE_STATUSES),
                name="task_live_due_idx",
            ),
            models.Index(
                fields=["queue", "created_at", "id"],
                condition=models.Q(status__in=LIVE_STATUSES),
                name="task_live_age_idx",
            ),
            models.Index(
                F("queue"),
                -F("priority"),
                F("created_at"),
                F("id"),
                condition=models.Q(status__in=LIVE_STATUSES),
                name="task_live_priority_idx",
            ),
            models.Index(
                F("queue"),
                -F("uncertainty"),
                F("created_at"),
                F("id"),
                condition=models.Q(status__in=LIVE_STATUSES),
                name="task_live_uncertain_idx",
            ),
            # The board's decision figures (counts, median and histogram of time to decision)
            # read queue, decided_at and created_at from this index alone (an index-only scan),
            # so they cost what the window holds, not a heap page per decision.
            models.Index(
                fields=["queue", "decided_at", "created_at"],
                condition=models.Q(status="decided"),
                name="task_decided_idx",
            ),
            models.Index(
                fields=["queue", "breached_at"],
                condition=models.Q(breached_at__isnull=False),
                name="task_breached_idx",
            ),
            models.Index(
                fields=["queue"],
                condition=models.Q(status__in=LIVE_STATUSES)
                & (models.Q(at_risk_at__isnull=False) | models.Q(breached_at__isnull=False)),
                name="task_flagged_idx",
            ),
            # The lease sweep looks only at claimed rows.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="claimed"),
                name="task_lease_idx",
            ),
            # The SLA sweep: one partial index per thing it waits for, each holding only live,
            # unpaused tasks still waiting for it, so a sweep over a million open tasks reads
            # just the rows that are due (see reviewapp/review/sla/sweep.py).
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

    class Meta:
        indexes = [
            # The board's override rate counts the day's corrections and rejections from here:
            # overrides only, so accepts (most decisions) add nothing to it or to its upkeep.
            models.Index(
                fields=["decided_at"],
                condition=models.Q(outcome__in=["correct", "reject"]),
                name="decision_override_idx",
            ),
            # A reviewer's own decisions, newest first: My work's "today" and the last
            # decision that Undo may take back, without sorting everything they ever decided.
            models.Index(fields=["reviewer", "-decided_at"], name="decision_reviewer_recent_idx"),
        ]

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
