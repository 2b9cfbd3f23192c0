"""What operators and integrators read across every stage: an item's story (status,
prediction, the decision of its review, webhook deliveries, its timeline), dead letters, and the
health of the pipeline (checks, processes, sweeps)."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from reviewapp.core.health.models import SweepRun
from reviewapp.core.health.readiness import Check, readiness
from reviewapp.core.health.selectors import ProcessState, processes, sweep_runs
from workflows.models import Item
from workflows.selectors import item_prediction, item_summary


def item_detail(item: Item) -> dict:
    """``item_summary`` and the item's story: prediction, routing, decision, steps, webhooks."""
    prediction = item_prediction(item)
    decision = item_decision(item)
    return item_summary(item) | {
        "prediction": None
        if prediction is None
        else {
            "output": prediction.output,
            "confidence": prediction.confidence,
            "probabilities": prediction.probabilities,
            "model_version": str(prediction.model_version),
            "latency_ms": prediction.latency_ms,
        },
        "routing": item.routing or None,
        # The judge's scores of the output per rubric item, when the workflow has a judge.
        "judge": [
            {
                "rubric": score.rubric,
                "score": score.score,
                "passed": score.passed,
                "rationale": score.rationale,
                "judge_version": str(score.judge),
            }
            for score in item.judge_scores.select_related("judge").order_by("rubric")
        ]
        or None,
        "dead_letter_reason": item.dead_letter_reason or None,
        "decision": None
        if decision is None
        else {
            "outcome": decision.outcome,
            "output": decision.output,
            "reason_codes": sorted(code.code for code in decision.reason_codes.all()),
            "comment": decision.comment,
            "decided_at": decision.decided_at.isoformat(),
        },
        "timeline": [
            {
                "step": run.step,
                "attempt": run.attempt,
                "status": run.status,
                "started_at": run.started_at.isoformat(),
                "duration_ms": run.duration_ms,
                "error": run.error or None,
                "model_version": run.model_version or None,
            }
            for run in item.step_runs.all()
        ],
        "deliveries": [
            {
                "id": delivery.pk,
                "event": delivery.event,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "last_error": delivery.last_error or None,
                "delivered_at": delivery.delivered_at.isoformat()
                if delivery.delivered_at
                else None,
            }
            for delivery in item.deliveries.all()
        ],
    }


def item_decision(item: Item):
    from reviewapp.review.reviews.models import LIVE_STATUSES, Decision

    # Four-eyes: while a second or senior review is open, an answer is not the item's decision,
    # and showing it would let the other reviewer see it.
    if item.tasks.filter(status__in=LIVE_STATUSES).exists():
        return None
    return (
        Decision.objects.filter(task__item=item)
        .select_related("reviewer")
        .prefetch_related("reason_codes")
        .order_by("-decided_at")
        .first()
    )


def dead_letters(workflows) -> list[Item]:
    """Dead-lettered items of these workflows that nobody has discarded, newest first."""
    return list(
        Item.objects.filter(
            workflow__in=workflows, status="dead_lettered", discarded_at__isnull=True
        )
        .select_related("workflow")
        .order_by("-updated_at")[:200]
    )


@dataclass(frozen=True)
class Sweep:
    """A periodic sweep of beat's schedule, with its last run as a worker recorded it."""

    key: str
    task: str
    every_seconds: float
    run: SweepRun | None
    late: bool


@dataclass(frozen=True)
class PipelineHealth:
    checks: list[Check]
    processes: list[ProcessState]
    sweeps: list[Sweep]


def pipeline_health() -> PipelineHealth:
    now = timezone.now()
    runs = sweep_runs()
    sweeps = []
    schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    for key, entry in sorted(schedule.items()):
        every = float(entry["schedule"])
        run = runs.get(entry["task"])
        # Late: not started within three of its intervals (and a minute of slack).
        late = run is None or run.started_at < now - timedelta(seconds=3 * every + 60)
        sweeps.append(Sweep(key=key, task=entry["task"], every_seconds=every, run=run, late=late))
    return PipelineHealth(checks=readiness(), processes=processes(now=now), sweeps=sweeps)
