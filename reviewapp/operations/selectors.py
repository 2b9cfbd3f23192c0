"""An item as integrators and operators follow it through every stage: status, prediction,
the decision of its review, webhook deliveries and the timeline from the audit trail."""

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
