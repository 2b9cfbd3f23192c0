"""Reads of items on the machine side: a summary, the prediction and its fields."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Min

from workflows.models import Item, ItemStatus, Prediction, StepRun, StepRunStatus


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
    recorded = _infer_output(item.pk)
    per_field = (recorded or {}).get("field_confidence") or {}
    return {name: float(per_field.get(name, prediction.confidence)) for name in prediction.output}


def _infer_output(item_id: int) -> dict | None:
    """The output of the item's last successful infer step.

    Read on every task a reviewer is shown: plain SQL, as building the queryset cost more CPU
    than the database spent on it (step_run_attempt_unique leads with the item)."""
    field: Any = StepRun._meta.get_field("output")
    with connection.cursor() as cursor:
        cursor.execute(_INFER_OUTPUT_SQL, [item_id, StepRunStatus.SUCCEEDED])
        row = cursor.fetchone()
    return None if row is None else field.from_db_value(row[0], None, connection)


_INFER_OUTPUT_SQL = (
    f"SELECT output FROM {StepRun._meta.db_table} "  # noqa: S608
    "WHERE item_id = %s AND step = 'infer' AND status = %s ORDER BY attempt DESC LIMIT 1"
)


@dataclass(frozen=True)
class Waiting:
    """Items in one pipeline state (and step, while running): how many, since when."""

    status: str
    step: str
    count: int
    oldest: datetime

    @property
    def status_label(self) -> str:
        return ItemStatus(self.status).label


def items_waiting(workflows) -> list[Waiting]:
    """Items not finished, by state, with the arrival of the oldest, for the Pipeline page."""
    rows = (
        Item.objects.filter(
            workflow__in=workflows,
            status__in=[ItemStatus.RECEIVED, ItemStatus.RUNNING, ItemStatus.AWAITING_REVIEW],
        )
        .values("status", "current_step")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    )
    order = {ItemStatus.RECEIVED: 0, ItemStatus.RUNNING: 1, ItemStatus.AWAITING_REVIEW: 2}
    waiting = [
        Waiting(
            status=row["status"],
            step=row["current_step"] if row["status"] != ItemStatus.AWAITING_REVIEW else "",
            count=row["count"],
            oldest=row["oldest"],
        )
        for row in rows
    ]
    return sorted(waiting, key=lambda w: (order[ItemStatus(w.status)], w.step))


def oldest_in_flight() -> tuple[int, str, datetime] | None:
    """The item that has been in the pipeline (received or running) the longest."""
    row = (
        Item.objects.filter(status__in=[ItemStatus.RECEIVED, ItemStatus.RUNNING])
        .order_by("created_at", "pk")
        .values_list("pk", "status", "created_at")
        .first()
    )
    return row
