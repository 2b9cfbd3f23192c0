"""SLA configuration (calendars, policies, escalation ladders) and what the sweep records.

The clock itself lives on ``ReviewTask`` as columns (``due_at``, ``warn_at``, ``at_risk_at``,
``breached_at``, ``next_escalation_at``, ...) so that the sweep is an indexed range scan.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from reviewapp.review.sla.calendar import WorkingCalendar


class BusinessCalendar(models.Model):
    """Working hours in a time zone, minus holidays. Written only by ``business_calendar_save``.

    ``working_hours`` maps weekdays to wall-clock ranges, e.g.
    ``{"mon": [["09:00", "12:30"], ["13:30", "17:00"]], ...}``; a day that is missing is off.
    ``holidays`` is a list of ``YYYY-MM-DD`` local dates.
    A calendar belongs to the team that created it: only its managers see, choose and edit it.
    """

    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calendars",
    )
    name = models.CharField(max_length=120)
    time_zone = models.CharField(max_length=64, default="UTC")
    working_hours = models.JSONField(default=dict)
    holidays = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="calendar_name_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.time_zone})"

    def working_calendar(self) -> WorkingCalendar:
        return WorkingCalendar.from_config(
            time_zone=self.time_zone, working_hours=self.working_hours, holidays=self.holidays
        )


class SlaPolicy(models.Model):
    """How long a queue's tasks may wait, in business minutes of ``calendar`` (none: 24/7).

    A change applies to tasks opened afterwards; open tasks keep the deadline they were given.
    """

    queue = models.OneToOneField(
        "reviews.Queue", on_delete=models.CASCADE, related_name="sla_policy"
    )
    target_minutes = models.PositiveIntegerField()
    warn_at_percent = models.PositiveSmallIntegerField(default=80)
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.PROTECT, related_name="policies"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(condition=Q(target_minutes__gt=0), name="sla_target_positive"),
            models.CheckConstraint(
                condition=Q(warn_at_percent__gte=1, warn_at_percent__lte=99),
                name="sla_warn_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return f"SLA {self.target_minutes} min for {self.queue_id}"


class EscalationAction(models.TextChoices):
    RAISE_PRIORITY = "raise_priority", "Raise priority"
    UNCLAIM = "unclaim", "Unclaim"
    NOTIFY_TEAM_LEAD = "notify_team_lead", "Notify the team lead"
    MOVE_TO_QUEUE = "move_to_queue", "Move to another queue"
    NOTIFY_MANAGER = "notify_manager", "Notify a manager"


class EscalationTrigger(models.TextChoices):
    BREACH = "breach", "After the breach"
    IDLE_CLAIM = "idle_claim", "After an idle claim"


class EscalationStep(models.Model):
    """One rung of a queue's ladder.

    A breach rung acts ``after_minutes`` business minutes after the breach; breach rungs fire in
    ``position`` order and their ``after_minutes`` never decreases along the ladder. An
    idle-claim rung acts on a claimed task whose holder showed no sign of life (claim,
    assignment, heartbeat) for ``after_minutes`` wall-clock minutes: idleness is about a person
    at a desk, not business hours. Each rung fires once per task either way.
    """

    queue = models.ForeignKey(
        "reviews.Queue", on_delete=models.CASCADE, related_name="escalation_steps"
    )
    position = models.PositiveSmallIntegerField()
    trigger = models.CharField(
        max_length=20, choices=EscalationTrigger.choices, default=EscalationTrigger.BREACH
    )
    after_minutes = models.PositiveIntegerField()
    action = models.CharField(max_length=30, choices=EscalationAction.choices)
    priority_boost = models.SmallIntegerField(default=0)
    target_queue = models.ForeignKey(
        "reviews.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["queue", "position"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "position"], name="escalation_step_position"),
        ]

    def __str__(self) -> str:
        return f"{self.queue_id} #{self.position}: {self.action} after {self.after_minutes} min"


class Escalation(models.Model):
    """A rung that fired for a task. The unique pair is what makes each rung fire once."""

    task = models.ForeignKey(
        "reviews.ReviewTask", on_delete=models.PROTECT, related_name="escalations"
    )
    step = models.ForeignKey(EscalationStep, on_delete=models.PROTECT, related_name="escalations")
    level = models.PositiveSmallIntegerField()
    fired_at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "step"], name="escalation_once_per_step"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} step {self.step_id}"


class NotificationKind(models.TextChoices):
    TASK_ESCALATED = "task_escalated", "Task escalated"
    TASK_BREACHED = "task_breached", "Task breached its SLA"
    ACCURACY_BELOW_FLOOR = "accuracy_below_floor", "Accuracy below the floor"
    DRIFT_DETECTED = "drift_detected", "Drift detected"
    JUDGE_TRUST_CHANGED = "judge_trust_changed", "A judge became trusted or untrusted"


class Notification(models.Model):
    """An in-app notification (the bell and /notifications/, ``reviewapp.review.sla.inbox``);
    when ``email_to`` is set the sweep also mails it, once."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    task = models.ForeignKey(
        "reviews.ReviewTask", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.TextField()
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    email_to = models.EmailField(blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["recipient", "-created_at"],
                condition=Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
            # The mailer looks only at notifications still to be mailed.
            models.Index(
                fields=["created_at"],
                condition=Q(emailed_at__isnull=True) & ~Q(email_to=""),
                name="notification_unmailed_idx",
            ),
        ]
        constraints = [
            # A task breaches once (the sweep's compare-and-swap on breached_at); this is the
            # last line of defence against telling a manager twice.
            models.UniqueConstraint(
                fields=["recipient", "task"],
                condition=Q(kind="task_breached"),
                name="notification_breach_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}"


class WebhookNotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    GAVE_UP = "gave_up", "Gave up"


class WebhookNotification(models.Model):
    """An escalation POSTed to the queue's notification URL, signed, retried with backoff.

    A row, not a message: a Celery task sends it after the escalation commits, and the SLA
    sweep re-enqueues rows that are due again (a failed attempt, a lost message).
    """

    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, related_name="webhook_notifications"
    )
    url = models.URLField(max_length=500)
    secret_env = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(
        max_length=20,
        choices=WebhookNotificationStatus.choices,
        default=WebhookNotificationStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_notification_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"webhook for escalation {self.escalation_id} ({self.status})"
