"""How good the model's answers are, as humans found them.

- The accuracy of what nobody reviewed: the routing policy's QA sample sends a share of the
  confident (auto-accepted) answers to a reviewer anyway; an accept there means the answer was
  right. That share, with its Wilson interval, estimates the accuracy of all auto-accepted
  answers, per workflow version and per predicted label.
- Calibration: over every reviewed item, does a stated confidence of 0.9 mean nine in ten
  accepted? Reliability bins and the expected calibration error.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from reviewapp.core.statistics import Calibration, Proportion, calibration, wilson_interval
from reviewapp.review.reviews.models import Decision, DecisionOutcome
from workflows.models import Workflow

NO_LABEL = "(no label)"


@dataclass(frozen=True)
class AccuracyRow:
    version: int
    label: str  # "" for the version's total
    accuracy: Proportion


@dataclass(frozen=True)
class AccuracyReport:
    since: datetime
    rows: list[AccuracyRow]

    def total(self, version: int) -> Proportion | None:
        return next((r.accuracy for r in self.rows if r.version == version and not r.label), None)


def _decisions(workflow: Workflow, since: datetime):
    return Decision.objects.filter(task__item__workflow=workflow, decided_at__gte=since)


def _label(output: object) -> str:
    label = output.get("label") if isinstance(output, dict) else None
    return str(label) if label not in (None, "") else NO_LABEL


def auto_accept_accuracy(
    workflow: Workflow, *, days: int = 30, version: int | None = None
) -> AccuracyReport:
    """Per workflow version (newest first; only ``version`` when given): the QA-sampled items'
    accept share, in total and per predicted label, over the last ``days``."""
    since = timezone.now() - timedelta(days=days)
    decisions = _decisions(workflow, since).filter(task__item__routing__qa_sample=True)
    if version is not None:
        decisions = decisions.filter(task__item__workflow_version__number=version)
    rows = decisions.values_list(
        "task__item__workflow_version__number", "outcome", "task__item__prediction__output"
    )
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for version, outcome, output in rows:
        right = int(outcome == DecisionOutcome.ACCEPT)
        for key in ((version, ""), (version, _label(output))):
            counts[key][0] += right
            counts[key][1] += 1
    ordered = sorted(counts, key=lambda key: (-key[0], key[1]))
    return AccuracyReport(
        since=since,
        rows=[
            AccuracyRow(version, label, wilson_interval(*counts[(version, label)]))
            for version, label in ordered
        ],
    )


def reviewed_calibration(
    workflow: Workflow, *, days: int = 30, version: int | None = None
) -> Calibration:
    """Confidence against the human verdict (accepted as it stood, or not) of every reviewed
    item with a prediction over the last ``days``."""
    decisions = _decisions(workflow, timezone.now() - timedelta(days=days)).filter(
        task__item__prediction__isnull=False
    )
    if version is not None:
        decisions = decisions.filter(task__item__workflow_version__number=version)
    pairs = decisions.values_list("task__item__prediction__confidence", "outcome")
    return calibration(
        (confidence, outcome == DecisionOutcome.ACCEPT) for confidence, outcome in pairs
    )
