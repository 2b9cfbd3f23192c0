"""The accuracy floor: when humans checking the QA sample find the auto-accepted answers surely
worse than the routing policy's ``accuracy_floor``, more of them get checked and the workflow's
managers are told; a person with release rights goes back to the policy's rate."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.core.accounts.models import Membership, Role
from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Conflict
from reviewapp.core.statistics import Proportion
from reviewapp.learn.monitoring.selectors import auto_accept_accuracy
from reviewapp.review.sla.inbox import notifications_create
from reviewapp.review.sla.models import Notification, NotificationKind
from workflows.models import Workflow

DEFAULT_MIN_SAMPLES = 30


@dataclass(frozen=True)
class FloorVerdict:
    floor: float
    accuracy: Proportion | None
    min_samples: int
    raised: bool  # this check raised the rate


def accuracy_floor(workflow: Workflow) -> dict | None:
    """The current version's QA sample policy when it declares a floor."""
    version = workflow.current_version
    sampling = (version.definition["routing"].get("qa_sample") if version else None) or {}
    return sampling if "accuracy_floor" in sampling else None


def accuracy_floor_check(*, workflow: Workflow) -> FloorVerdict | None:
    """Raise the QA sample rate once when the upper end of the current version's accuracy
    interval is below the floor over enough checked items; ``None`` without a floor."""
    sampling = accuracy_floor(workflow)
    if sampling is None:
        return None
    assert workflow.current_version is not None
    floor = float(sampling["accuracy_floor"])
    min_samples = int(sampling.get("min_samples", DEFAULT_MIN_SAMPLES))
    number = workflow.current_version.number
    report = auto_accept_accuracy(
        workflow, days=settings.REVIEWAPP_ACCURACY_WINDOW_DAYS, version=number
    )
    accuracy = report.total(number)
    verdict = FloorVerdict(floor, accuracy, min_samples, raised=False)
    if accuracy is None or accuracy.trials < min_samples or accuracy.high >= floor:
        return verdict
    raised_rate = float(sampling["raised_rate"])
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if (locked.qa_sample_rate_raised or 0.0) >= raised_rate:
            return verdict
        now = timezone.now()
        locked.qa_sample_rate_raised = raised_rate
        locked.qa_sample_raised_at = now
        locked.save(update_fields=["qa_sample_rate_raised", "qa_sample_raised_at"])
        audit_record(
            action="workflow.qa_sample_raised",
            obj=locked,
            chain=locked.audit_chain,
            data={
                "version": workflow.current_version.number,
                "accepted": accuracy.successes,
                "checked": accuracy.trials,
                "interval": [round(accuracy.low, 4), round(accuracy.high, 4)],
                "accuracy_floor": floor,
                "rate": float(sampling.get("rate", 0.0)),
                "raised_rate": raised_rate,
            },
        )
        message = (
            f"Auto-accepted answers of {workflow.name} (version {workflow.current_version.number}) "
            f"look less accurate than the floor of {floor:.0%}: reviewers accepted "
            f"{accuracy.successes} of {accuracy.trials} checked (95% interval "
            f"{accuracy.low:.0%} to {accuracy.high:.0%}). Reviewers now check {raised_rate:.0%} "
            "of confident answers instead of the policy's rate."
        )
        managers = Membership.objects.filter(team_id=workflow.team_id, role=Role.MANAGER)
        notifications_create(
            Notification(
                recipient=membership.user,
                kind=NotificationKind.ACCURACY_BELOW_FLOOR,
                message=message,
                created_at=now,
                email_to=membership.user.email,
            )
            for membership in managers.select_related("user")
        )
    return FloorVerdict(floor, accuracy, min_samples, raised=True)


class NothingRaised(Conflict):
    def __init__(self) -> None:
        super().__init__("The QA sample rate is the policy's own; there is nothing to reset.")


@transaction.atomic
def qa_sample_rate_reset(*, workflow: Workflow, acting_user) -> None:
    """Back to the policy's QA sample rate (e.g. after a better model was released)."""
    locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if locked.qa_sample_rate_raised is None:
        raise NothingRaised()
    audit_record(
        action="workflow.qa_sample_reset",
        obj=locked,
        actor=acting_user,
        chain=locked.audit_chain,
        data={"raised_rate": locked.qa_sample_rate_raised},
    )
    locked.qa_sample_rate_raised = None
    locked.qa_sample_raised_at = None
    locked.save(update_fields=["qa_sample_rate_raised", "qa_sample_raised_at"])
    workflow.qa_sample_rate_raised = None
    workflow.qa_sample_raised_at = None
