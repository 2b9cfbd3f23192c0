"""Shadow models: a candidate answers every item beside the serving model and is scored against
what reviewers decided, before it serves anyone (then a canary, from the canary page).

The shadow's answers never route: the pipeline's infer step stores them beside the serving
model's (``ShadowPrediction``), and routing reads only the serving model's.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.core.statistics import Proportion, calibration, wilson_interval
from reviewapp.review.reviews.models import Decision
from workflows.models import (
    ModelVersion,
    Prediction,
    Shadow,
    ShadowPrediction,
    ShadowStatus,
    Workflow,
)


class ShadowInvalid(InvalidRequest):
    detail = "The shadow model is not valid."


class ShadowConflict(Conflict):
    """Another shadow runs on the workflow, or this one is over."""


def shadow_start(*, workflow: Workflow, candidate: ModelVersion, acting_user) -> Shadow:
    assert workflow.current_version is not None
    binding = workflow.current_version.definition["model"]
    if (candidate.name, candidate.version) == (binding["name"], binding["version"]):
        raise ShadowInvalid(
            {"candidate": ["The candidate is the model the workflow already uses."]}
        )
    try:
        with transaction.atomic():
            shadow = Shadow.objects.create(
                workflow=workflow,
                candidate=candidate,
                started_by=acting_user,
                started_at=timezone.now(),
            )
            audit_record(
                action="shadow.started",
                obj=shadow,
                actor=acting_user,
                chain=workflow.audit_chain,
                data={"candidate": str(candidate)},
            )
    except IntegrityError:
        raise ShadowConflict(
            "A shadow model already runs on this workflow; stop it first."
        ) from None
    return shadow


@transaction.atomic
def shadow_stop(*, shadow: Shadow, acting_user) -> Shadow:
    locked = Shadow.objects.select_for_update().get(pk=shadow.pk)
    if locked.status != ShadowStatus.RUNNING:
        raise ShadowConflict("This shadow model was stopped already.")
    locked.status = ShadowStatus.STOPPED
    locked.ended_at = timezone.now()
    locked.save(update_fields=["status", "ended_at"])
    audit_record(
        action="shadow.stopped",
        obj=locked,
        actor=acting_user,
        chain=locked.workflow.audit_chain,
        data={"candidate": str(locked.candidate)},
    )
    return locked


@dataclass(frozen=True)
class Arm:
    """One model's answers on the items both answered, against the reviewers' final outputs."""

    name: str
    answered: int
    failed: int
    agreement: Proportion  # answers equal to what reviewers decided, of the reviewed ones
    expected_calibration_error: float | None
    mean_latency_ms: float | None
    cost: float


@dataclass(frozen=True)
class ShadowComparison:
    shadow: Shadow
    serving: Arm
    candidate: Arm


def shadow_comparison(shadow: Shadow) -> ShadowComparison:
    """Serving against shadow on the items the shadow saw."""
    answers = ShadowPrediction.objects.filter(shadow=shadow)
    items = answers.values("item_id")
    decided = dict(
        Decision.objects.filter(task__item_id__in=items)
        .order_by("decided_at")
        .values_list("task__item_id", "output")
    )
    serving_rows = Prediction.objects.filter(item_id__in=items).values_list(
        "item_id", "output", "confidence"
    )
    shadow_rows = answers.filter(error="").values_list("item_id", "output", "confidence")
    serving_stats = Prediction.objects.filter(item_id__in=items).aggregate(
        latency=Avg("latency_ms"), cost=Sum("cost"), n=Count("id")
    )
    shadow_stats = answers.aggregate(
        latency=Avg("latency_ms", filter=Q(error="")),
        cost=Sum("cost"),
        failed=Count("id", filter=~Q(error="")),
        n=Count("id", filter=Q(error="")),
    )
    return ShadowComparison(
        shadow=shadow,
        serving=_arm("serving", serving_rows, decided, serving_stats, failed=0),
        candidate=_arm("shadow", shadow_rows, decided, shadow_stats, failed=shadow_stats["failed"]),
    )


def _arm(name: str, rows, decided: dict, stats: dict, *, failed: int) -> Arm:
    agree = reviewed = 0
    pairs = []
    for item_id, output, confidence in rows:
        if item_id in decided:
            right = output == decided[item_id]
            reviewed += 1
            agree += int(right)
            pairs.append((confidence, right))
    return Arm(
        name=name,
        answered=stats["n"] or 0,
        failed=failed,
        agreement=wilson_interval(agree, reviewed),
        expected_calibration_error=calibration(pairs).expected_error,
        mean_latency_ms=stats["latency"],
        cost=stats["cost"] or 0.0,
    )


def latest_shadow(workflow: Workflow) -> Shadow | None:
    """The running shadow, else the one stopped last within a month (its figures still tell)."""
    recent = Q(status=ShadowStatus.RUNNING) | Q(ended_at__gte=timezone.now() - timedelta(days=30))
    return (
        Shadow.objects.filter(recent, workflow=workflow)
        .select_related("candidate")
        .order_by("-started_at")
        .first()
    )
