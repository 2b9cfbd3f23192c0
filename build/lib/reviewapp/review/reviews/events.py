"""How the events of a review task go into the audit trail: one shape for every stage that acts
on a task (reviews, SLA, quality), importable by all of them."""

from reviewapp.core.audit.services import AuditEntry, audit_record_many
from reviewapp.review.reviews.models import ReviewTask


def task_audit_entry(task: ReviewTask, action: str, actor=None, /, **data) -> AuditEntry:
    """How every event of a review task is recorded (reviews, SLA, quality): the item and the
    queue beside what the event itself adds."""
    return AuditEntry(
        action=action,
        obj=task,
        actor=actor,
        data={"item": task.item_id, "queue": task.queue.slug, **data},
    )


def task_audit(task: ReviewTask, action: str, actor=None, /, **data) -> None:
    """Record one task event in the task's workflow chain, inside the caller's transaction."""
    audit_record_many(
        [task_audit_entry(task, action, actor, **data)], chain=task.queue.workflow.audit_chain
    )
