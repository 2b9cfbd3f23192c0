"""Cost per outcome: what the model calls cost (every step run, failed ones too) and what the
review time cost (each decision's time, or claim to decision when the client sent none, times
its queue's ``review_hourly_cost``), per workflow version and outcome and per day, over the
items completed in a window."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from reviewapp.review.reviews.models import Decision, Queue
from workflows.models import Item, ItemOutcome, ItemStatus, StepRun, Workflow

REVIEWED = (ItemOutcome.ACCEPTED, ItemOutcome.CORRECTED, ItemOutcome.REJECTED)
HOUR_MS = 3_600_000


@dataclass
class CostLine:
    items: int = 0
    model: float = 0.0
    human: float = 0.0

    @property
    def total(self) -> float:
        return self.model + self.human

    def per_item(self) -> float | None:
        return self.total / self.items if self.items else None

    def add(self, other: "CostLine") -> None:
        self.items += other.items
        self.model += other.model
        self.human += other.human


@dataclass
class CostReport:
    since: datetime
    # (version, outcome) -> line; outcome "reviewed" sums the three reviewed outcomes.
    by_outcome: dict[tuple[int, str], CostLine] = field(default_factory=dict)
    by_day: dict[date, CostLine] = field(default_factory=dict)


def _review_cost_per_item(items) -> dict[int, float]:
    """Review cost per item: measured time where sent, claim to decision otherwise."""
    rates = dict(Queue.objects.values_list("pk", "review_hourly_cost"))
    waited = ExpressionWrapper(F("decided_at") - F("task__claimed_at"), DurationField())
    rows = (
        Decision.objects.filter(task__item__in=items)
        .values("task__item_id", "task__queue_id")
        .annotate(
            measured_ms=Sum("time_spent_ms"),
            unmeasured=Sum(waited, filter=Q(time_spent_ms__isnull=True)),
        )
    )
    costs: dict[int, float] = defaultdict(float)
    for row in rows:
        spent_ms = (row["measured_ms"] or 0) + (
            row["unmeasured"].total_seconds() * 1000 if row["unmeasured"] else 0
        )
        costs[row["task__item_id"]] += spent_ms / HOUR_MS * rates.get(row["task__queue_id"], 0.0)
    return costs


def outcome_costs(workflow: Workflow, *, days: int = 30) -> CostReport:
    since = timezone.now() - timedelta(days=days)
    items = Item.objects.filter(
        workflow=workflow, status=ItemStatus.COMPLETED, completed_at__gte=since
    )
    model = dict(
        StepRun.objects.filter(item__in=items)
        .values("item_id")
        .annotate(cost=Sum("cost"))
        .values_list("item_id", "cost")
    )
    human = _review_cost_per_item(items)
    report = CostReport(since=since)
    rows = items.values_list("pk", "workflow_version__number", "outcome", "completed_at")
    for pk, version, outcome, completed_at in rows.iterator(chunk_size=5000):
        line = CostLine(items=1, model=model.get(pk) or 0.0, human=human.get(pk, 0.0))
        keys = [(version, outcome)] + ([(version, "reviewed")] if outcome in REVIEWED else [])
        for key in keys:
            report.by_outcome.setdefault(key, CostLine()).add(line)
        day = timezone.localdate(completed_at)
        report.by_day.setdefault(day, CostLine()).add(line)
    return report
