"""Reads of items for the API and the item page."""

from workflows.models import Item, Prediction, StepRunStatus


def item_prediction(item: Item) -> Prediction | None:
    try:
        return item.prediction
    except Prediction.DoesNotExist:
        return None


def item_detail(item: Item, *, include_timeline: bool = True) -> dict:
    prediction = item_prediction(item) if include_timeline else None
    body: dict = {
        "id": item.pk,
        "workflow": item.workflow.slug,
        "workflow_version": item.workflow_version.number,
        "status": item.status,
        "outcome": item.outcome or None,
        "input": item.input,
        "final_output": item.final_output,
        "created_at": item.created_at.isoformat(),
        "completed_at": item.completed_at.isoformat() if item.completed_at else None,
    }
    if not include_timeline:
        return body
    decision = item_decision(item)
    body |= {
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
    return body


def item_decision(item: Item):
    from reviewapp.reviews.models import LIVE_STATUSES, Decision

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


def canary_summary(canary) -> dict:
    return {
        "id": canary.pk,
        "stable": str(canary.stable),
        "candidate": str(canary.candidate),
        "percent": canary.percent,
        "min_sample": canary.min_sample,
        "gates": canary.gates,
        "status": canary.status,
        "reason": canary.reason or None,
        "started_at": canary.started_at.isoformat(),
        "ended_at": canary.ended_at.isoformat() if canary.ended_at else None,
        "last_evaluation": canary.last_evaluation or None,
    }


def item_input_fields(item: Item) -> list[tuple[str, object]]:
    """The item's input in a reading order: required fields as the schema lists them, then the
    text fields, then the rest by name. (PostgreSQL's jsonb keeps no key order, so the order
    of ``properties`` is lost; the arrays keep theirs.)"""
    definition = item.workflow_version.definition
    ordered = [*definition["input_schema"].get("required", []), *definition.get("text_fields", [])]
    ordered += sorted(name for name in item.input if name not in ordered)
    return [(name, item.input[name]) for name in dict.fromkeys(ordered) if name in item.input]


def training_run_summary(run) -> dict:
    return {
        "id": run.pk,
        "workflow": run.workflow.slug,
        "release": run.release.release_name,
        "export_id": run.release_id,
        "status": run.status,
        "progress": run.progress,
        "stage": run.stage,
        "base": str(run.base) if run.base else None,
        "candidate": str(run.candidate) if run.candidate else None,
        "metrics": run.metrics or None,
        "error": run.error or None,
        "requested_by": run.requested_by.get_username() if run.requested_by else None,
        "requested_at": run.requested_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def training_runs_for_workflow(workflow):
    return workflow.training_runs.select_related(
        "workflow", "release", "base", "candidate", "requested_by"
    )


def item_field_confidence(item: Item) -> dict[str, float]:
    """Confidence per output field, as the infer step got it from the model.

    The Prediction row keeps the overall confidence only; the per-field one lives in the infer
    step's recorded output. Fields a model gives none for take the overall one, as the routing
    policy does (``workflows.policy.facts_for``)."""
    prediction = item_prediction(item)
    if prediction is None:
        return {}
    recorded = (
        item.step_runs.filter(step="infer", status=StepRunStatus.SUCCEEDED)
        .order_by("-attempt")
        .values_list("output", flat=True)
        .first()
    )
    per_field = (recorded or {}).get("field_confidence") or {}
    return {name: float(per_field.get(name, prediction.confidence)) for name in prediction.output}
