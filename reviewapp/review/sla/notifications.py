"""What the SLA stage tells people: signed webhooks to a queue's endpoint when a task escalates,
and the emails of escalation notifications."""

import logging
from datetime import datetime

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.jobs import job_send, job_send_on_commit
from reviewapp.review.reviews.models import Queue, ReviewTask
from reviewapp.review.sla.models import (
    Escalation,
    EscalationStep,
    Notification,
    NotificationKind,
    WebhookNotification,
    WebhookNotificationStatus,
)
from workflows.act.webhooks import attempt_claim, attempt_settle, signed_post

DELIVER_NOTIFICATION_TASK = "sla.deliver_webhook_notification"

logger = logging.getLogger(__name__)


def webhook_notification_add(
    escalation: Escalation,
    task: ReviewTask,
    step: EscalationStep,
    queue: Queue,
    now: datetime,
    *,
    now_in: Queue | None = None,
) -> WebhookNotification | None:
    """Runs in the escalation's transaction: the row commits with it, the send follows.

    ``now_in`` is the queue the task is in after this rung (a later rung may move it on)."""
    if not queue.notify_webhook_url:
        return None
    notification = WebhookNotification.objects.create(
        escalation=escalation,
        url=queue.notify_webhook_url,
        secret_env=queue.notify_webhook_secret_env,
        payload={
            "event": "task.escalated",
            "task": task.pk,
            "item": task.item_id,
            "queue": queue.slug,
            "now_in_queue": (now_in or task.queue).slug,
            "trigger": step.trigger,
            "step": step.position,
            "action": step.action,
            "level": escalation.level,
            "due_at": task.due_at.isoformat() if task.due_at else None,
            "fired_at": now.isoformat(),
            "detail": escalation.detail,
        },
        next_attempt_at=now,
        created_at=now,
    )
    job_send_on_commit(DELIVER_NOTIFICATION_TASK, notification.pk)
    return notification


def webhook_notifications_enqueue_due(*, limit: int = 500) -> int:
    """Re-enqueue deliveries that are due again: a retry after a failure, or a lost message."""
    due = list(
        WebhookNotification.objects.filter(
            status=WebhookNotificationStatus.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:limit]
    )
    for notification_id in due:
        job_send(DELIVER_NOTIFICATION_TASK, notification_id)
    return len(due)


def webhook_notification_deliver(*, notification_id: int) -> WebhookNotification | None:
    """One signed attempt, exactly like an item webhook (``workflows.act.webhooks``)."""
    notification = attempt_claim(WebhookNotification.objects, notification_id)
    if notification is None:
        return None
    attempt = signed_post(
        notification.url,
        notification.payload | {"notification_id": notification.pk},
        notification.secret_env,
    )
    with transaction.atomic(durable=True):
        notification = (
            WebhookNotification.objects.select_for_update(of=("self",))
            .select_related("escalation__task__queue__workflow")
            .get(pk=notification_id)
        )
        notification.last_status_code = attempt.status_code
        outcome = attempt_settle(notification, attempt.error)
        notification.save()
        if outcome:
            task = notification.escalation.task
            audit_record(
                action=f"sla.webhook_{outcome}",
                obj=notification,
                chain=task.queue.workflow.audit_chain,
                data={
                    "task": task.pk,
                    "escalation": notification.escalation_id,
                    "attempts": notification.attempts,
                    "status_code": attempt.status_code,
                    "error": attempt.error[:200],
                },
            )
    return notification


# --- email --------------------------------------------------------------------------------------


MAIL_SUBJECTS: dict[str, str] = {
    NotificationKind.TASK_ESCALATED: "A review task was escalated",
    NotificationKind.ACCURACY_BELOW_FLOOR: "Auto-accepted answers fell below the accuracy floor",
    NotificationKind.DRIFT_DETECTED: "A workflow's inputs or answers drifted",
}


def notifications_mail_pending(*, limit: int = 200) -> int:
    """Mail notifications that want an email, each claimed first so that it goes out once.

    Runs after the sweep's transactions committed, so nothing is mailed for a change that rolled
    back. A failed send gives the claim back and the next sweep tries again.
    """
    pending = list(
        Notification.objects.filter(emailed_at__isnull=True)
        .exclude(email_to="")
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for notification_id in pending:
        now = timezone.now()
        claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
            emailed_at=now
        )
        if not claimed:
            continue
        notification = Notification.objects.get(pk=notification_id)
        try:
            send_mail(
                subject=f"[reviewapp] {MAIL_SUBJECTS[notification.kind]}",
                message=notification.message,
                from_email=None,
                recipient_list=[notification.email_to],
            )
        except Exception:
            logger.exception("mailing notification %s failed; will retry", notification_id)
            Notification.objects.filter(pk=notification_id, emailed_at=now).update(emailed_at=None)
            continue
        sent += 1
    return sent
