"""Canary releases: send a share of items to a candidate model and let gates decide.

Gates compare the candidate arm with the stable arm over the items each served since the
canary started: human override rate (reviewed items a reviewer corrected or rejected), p95
inference latency, error rate of the infer step, and cost per item. Once both arms have
``min_sample`` reviewed items, every gate passing promotes the candidate and any gate failing
rolls it back; both are audited with the numbers that decided.

A pairwise gate is optional (off while ``pairwise_min_comparisons`` is 0): people compared the
candidate's answers with the stable model's on the same inputs (``reviewapp.review.pairwise``,
from a shadow of the candidate), and the canary is judged only once there are that many decisive
comparisons; it passes when the lower bound of the candidate's 95 % Wilson interval of win rate
is at least ``pairwise_min_win_rate``.
"""

import math
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.core.statistics import Proportion
from reviewapp.core.untrusted import shown
from reviewapp.review.pairwise.selectors import candidate_win_rate
from workflows.access import models_for_team
from workflows.models import (
    Canary,
    CanaryStatus,
    ItemOutcome,
    ModelVersion,
    Prediction,
    StepRun,
    StepRunStatus,
    Workflow,
)

DEFAULT_GATES = {
    "override_rate_margin": 0.05,  # candidate may be at most 5 points worse
    "p95_latency_ratio": 1.5,
    "error_rate_margin": 0.02,
    "cost_ratio": 1.5,
    # Pairwise review: off at 0 comparisons; else the candidate's lower bound of win rate.
    "pairwise_min_comparisons": 0,
    "pairwise_min_win_rate": 0.5,
}
REVIEWED = [ItemOutcome.ACCEPTED, ItemOutcome.CORRECTED, ItemOutcome.REJECTED]
OVERRIDDEN = [ItemOutcome.CORRECTED, ItemOutcome.REJECTED]


class CanaryInvalid(InvalidRequest):
    detail = "The canary is not valid."


class CanaryConflict(Conflict):
    """Another canary is live, or this one is already over."""


# Beyond this a canary would never be judged; the column holds no more anyway.
MAX_MIN_SAMPLE = 1_000_000


@transaction.atomic(durable=True)
def canary_start(
    *,
    workflow: Workflow,
    candidate: ModelVersion,
    percent: int,
    min_sample: int,
    acting_user,
    gates: dict | None = None,
) -> Canary:
    assert workflow.current_version is not None
    binding = workflow.current_version.definition["model"]
    stable = ModelVersion.objects.get(name=binding["name"], version=binding["version"])
    errors: dict[str, list[str]] = {}
    if not 1 <= percent <= 99:
        errors["percent"] = ["Send between 1 and 99 percent of items to the candidate."]
    if not 1 <= min_sample <= MAX_MIN_SAMPLE:
        errors["min_sample"] = [f"Judge after 1 to {MAX_MIN_SAMPLE} reviewed items per arm."]
    if candidate.pk == stable.pk:
        errors["candidate"] = ["The candidate is the model the workflow already uses."]
    elif not models_for_team(workflow.team).filter(pk=candidate.pk).exists():
        errors["candidate"] = [
            f"No model {candidate} of this team is registered; an admin can share another "
            "team's model with it."
        ]
    merged = DEFAULT_GATES | (gates or {})
    unknown = set(merged) - set(DEFAULT_GATES)
    if unknown:
        names = ", ".join(shown(name) for name in sorted(unknown)[:5])
        errors["gates"] = [f"Unknown gate(s): {names}."]
    elif any(
        not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0
        for v in merged.values()
    ):
        errors["gates"] = ["Gate limits are numbers of zero or more."]
    elif merged["pairwise_min_win_rate"] > 1:
        errors["gates"] = ["pairwise_min_win_rate is a share between 0 and 1."]
    elif merged["pairwise_min_comparisons"] != int(merged["pairwise_min_comparisons"]):
        errors["gates"] = ["pairwise_min_comparisons is a whole number."]
    if errors:
        raise CanaryInvalid(errors)
    try:
        with transaction.atomic():
            canary = Canary.objects.create(
                workflow=workflow,
                stable=stable,
                candidate=candidate,
                percent=percent,
                min_sample=min_sample,
                gates=merged,
                started_by=acting_user,
                started_at=timezone.now(),
            )
    except IntegrityError:
        raise CanaryConflict("Another canary is live on this workflow; end it first.") from None
    audit_record(
        action="canary.started",
        obj=canary,
        actor=acting_user,
        chain=workflow.audit_chain,
        data={
            "stable": str(stable),
            "candidate": str(candidate),
            "percent": percent,
            "min_sample": min_sample,
            "gates": merged,
        },
    )
    return canary


@dataclass(frozen=True)
class ArmMetrics:
    items: int
    reviewed: int
    overridden: int
    errors: int
    p95_latency_ms: float | None
    cost_per_item: float

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.reviewed if self.reviewed else None

    @property
    def error_rate(self) -> float:
        attempts = self.items + self.errors
        return self.errors / attempts if attempts else 0.0

    def as_dict(self) -> dict:
        return {
            "items": self.items,
            "reviewed": self.reviewed,
            "overridden": self.overridden,
            "override_rate": _round(self.override_rate),
            "errors": self.errors,
            "error_rate": _round(self.error_rate),
            "p95_latency_ms": _round(self.p95_latency_ms),
            "cost_per_item": round(self.cost_per_item, 8),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def arm_metrics(canary: Canary, model: ModelVersion) -> ArmMetrics:
    predictions = Prediction.objects.filter(
        item__workflow=canary.workflow, model_version=model, created_at__gte=canary.started_at
    ).filter(item__gold__isnull=True)  # gold items (reviewapp.review.quality) are not model traffic
    totals = predictions.aggregate(
        items=Count("id"),
        reviewed=Count("id", filter=Q(item__outcome__in=REVIEWED)),
        overridden=Count("id", filter=Q(item__outcome__in=OVERRIDDEN)),
        cost=Avg("cost"),
    )
    latencies = sorted(predictions.values_list("latency_ms", flat=True))
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None
    errors = StepRun.objects.filter(
        item__workflow=canary.workflow,
        step="infer",
        status=StepRunStatus.FAILED,
        model_version=str(model),
        started_at__gte=canary.started_at,
    ).count()
    return ArmMetrics(
        items=totals["items"],
        reviewed=totals["reviewed"],
        overridden=totals["overridden"],
        errors=errors,
        p95_latency_ms=p95,
        cost_per_item=float(totals["cost"] or 0.0),
    )


def pairwise_gate_on(canary: Canary) -> bool:
    return canary.gates.get("pairwise_min_comparisons", 0) > 0


def canary_win_rate(canary: Canary) -> Proportion:
    """The candidate's win rate against the stable model in pairwise review."""
    return candidate_win_rate(
        workflow_id=canary.workflow_id,
        champion_id=canary.stable_id,
        candidate_id=canary.candidate_id,
    )


def canary_gates(
    canary: Canary,
    stable: ArmMetrics,
    candidate: ArmMetrics,
    win_rate: Proportion | None = None,
) -> dict[str, bool]:
    """Each gate's verdict: True when the candidate is within its limit."""
    gates = canary.gates
    verdicts = {
        "override_rate": (candidate.override_rate or 0.0)
        <= (stable.override_rate or 0.0) + gates["override_rate_margin"],
        "p95_latency": stable.p95_latency_ms is None
        or candidate.p95_latency_ms is None
        or candidate.p95_latency_ms <= stable.p95_latency_ms * gates["p95_latency_ratio"],
        "error_rate": candidate.error_rate <= stable.error_rate + gates["error_rate_margin"],
        "cost": candidate.cost_per_item <= stable.cost_per_item * gates["cost_ratio"] + 1e-12,
    }
    if win_rate is not None:
        verdicts["pairwise_win_rate"] = win_rate.low >= gates["pairwise_min_win_rate"]
    return verdicts


def canary_evaluate(*, canary_id: int) -> Canary:
    """Judge a running canary; promote or roll back once both arms have enough reviews."""
    with transaction.atomic(durable=True):
        canary = (
            Canary.objects.select_for_update(of=("self",))
            .select_related("workflow", "stable", "candidate")
            .get(pk=canary_id)
        )
        if canary.status != CanaryStatus.RUNNING:
            return canary
        stable, candidate = (
            arm_metrics(canary, canary.stable),
            arm_metrics(canary, canary.candidate),
        )
        win_rate = canary_win_rate(canary) if pairwise_gate_on(canary) else None
        verdicts = canary_gates(canary, stable, candidate, win_rate)
        canary.last_evaluation = {
            "at": timezone.now().isoformat(),
            "stable": stable.as_dict(),
            "candidate": candidate.as_dict(),
            "gates": verdicts,
        }
        enough = min(stable.reviewed, candidate.reviewed) >= canary.min_sample
        if win_rate is not None:
            canary.last_evaluation["pairwise"] = {
                "candidate_wins": win_rate.successes,
                "decisive": win_rate.trials,
                "low": round(win_rate.low, 4),
                "high": round(win_rate.high, 4),
            }
            # Judged only over enough decisive comparisons: a few early ones decide nothing.
            enough = enough and win_rate.trials >= canary.gates["pairwise_min_comparisons"]
        if not enough:
            canary.save(update_fields=["last_evaluation"])
            return canary
        failed = sorted(name for name, passed in verdicts.items() if not passed)
        canary.status = CanaryStatus.ROLLED_BACK if failed else CanaryStatus.PROMOTED
        canary.reason = f"gates failed: {', '.join(failed)}" if failed else "every gate passed"
        canary.ended_at = timezone.now() if failed else None
        canary.save()
        audit_record(
            action="canary.rolled_back" if failed else "canary.promoted",
            obj=canary,
            chain=canary.workflow.audit_chain,
            data={"reason": canary.reason, **canary.last_evaluation},
        )
        return canary


@transaction.atomic(durable=True)
def canary_stop(*, canary: Canary, acting_user) -> Canary:
    """End a canary by hand: running -> stopped (stable serves all), promoted -> stopped too
    (once the definition names the new model, the promotion is no longer needed)."""
    canary = (
        Canary.objects.select_for_update(of=("self",)).select_related("workflow").get(pk=canary.pk)
    )
    if canary.status not in (CanaryStatus.RUNNING, CanaryStatus.PROMOTED):
        raise CanaryConflict("This canary is already over.")
    previous = canary.status
    canary.status = CanaryStatus.STOPPED
    canary.ended_at = timezone.now()
    canary.save(update_fields=["status", "ended_at"])
    audit_record(
        action="canary.stopped",
        obj=canary,
        actor=acting_user,
        chain=canary.workflow.audit_chain,
        data={"was": previous},
    )
    return canary


def canaries_running() -> list[int]:
    return list(Canary.objects.filter(status=CanaryStatus.RUNNING).values_list("pk", flat=True))
