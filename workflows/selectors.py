"""Reads of items on the machine side: a summary, the prediction and its fields."""

from workflows.models import Item, Prediction, StepRunStatus


def item_summary(item: Item) -> dict:
    """What an integrator sees of an item right after sending it, and at a glance."""
    return {
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


def item_prediction(item: Item) -> Prediction | None:
    try:
        return item.prediction
    except Prediction.DoesNotExist:
        return None


def item_input_fields(item: Item) -> list[tuple[str, object]]:
    """The item's input in a reading order: required fields as the schema lists them, then the
    text fields, then the rest by name. (PostgreSQL's jsonb keeps no key order, so the order
    of ``properties`` is lost; the arrays keep theirs.)"""
    definition = item.workflow_version.definition
    ordered = [*definition["input_schema"].get("required", []), *definition.get("text_fields", [])]
    ordered += sorted(name for name in item.input if name not in ordered)
    return [(name, item.input[name]) for name in dict.fromkeys(ordered) if name in item.input]


def item_field_confidence(item: Item) -> dict[str, float]:
    """Confidence per output field, as the infer step got it from the model.

    The Prediction row keeps the overall confidence only; the per-field one lives in the infer
    step's recorded output. Fields a model gives none for take the overall one, as the routing
    policy does (``workflows.pipeline.policy.facts_for``)."""
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
