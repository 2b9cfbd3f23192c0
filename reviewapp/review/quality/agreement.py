"""How much reviewers agree when they review the same item independently (the two answers of a
four-eyes review; the senior's answer after a disagreement is not independent and is left out).

- Krippendorff's alpha per output field, for the outcome, and for the reason (with partial
  credit along the reason taxonomy: a reason and its parent, or two reasons under the same
  parent, half agree), each with a bootstrap 95 % interval over items;
- Cohen's kappa per reviewer pair on the whole answer (outcome and output);
- a weekly trend of the whole answer's alpha, and the disagreement hotspots: the pairs of
  answers that most often disagree, with the items.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from reviewapp.core.statistics import (
    bootstrap_interval,
    cohen_kappa,
    krippendorff_alpha,
    nominal_distance,
)
from reviewapp.review.quality.models import FourEyesReview, FourEyesStatus
from reviewapp.review.reviews.models import Decision, Queue

# Agreement is read over the most recent pairs: enough for a stable figure, bounded work.
MAX_PAIRS = 2000
NO_REASON = "(no reason)"


@dataclass(frozen=True)
class Answer:
    reviewer: str
    outcome: str
    output: dict
    reason: str

    @property
    def whole(self) -> str:
        return json.dumps([self.outcome, self.output], sort_keys=True)

    def field(self, name: str) -> str | None:
        if self.outcome == "reject" or name not in self.output:
            return None
        return json.dumps(self.output[name], sort_keys=True)


@dataclass(frozen=True)
class Pair:
    item_id: int
    compared_at: datetime
    first: Answer
    second: Answer


@dataclass(frozen=True)
class Alpha:
    name: str
    value: float | None
    interval: tuple[float, float] | None
    units: int


@dataclass(frozen=True)
class PairKappa:
    reviewers: tuple[str, str]
    items: int
    kappa: float | None
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class Hotspot:
    answers: tuple[str, str]
    count: int
    item_ids: list[int]


@dataclass(frozen=True)
class QueueAgreement:
    pairs: int
    alphas: list[Alpha]
    kappas: list[PairKappa]
    trend: list[tuple[str, float | None]]
    hotspots: list[Hotspot]


def reason_distance(first: object, second: object) -> float:
    """Partial credit along the taxonomy: codes are paths (``wrong-category/near-miss``)."""
    if first == second:
        return 0.0
    a, b = str(first).split("/"), str(second).split("/")
    related = a[: len(b)] == b or b[: len(a)] == a or (len(a) > 1 and len(b) > 1 and a[0] == b[0])
    return 0.5 if related and NO_REASON not in (first, second) else 1.0


def four_eyes_pairs(queue: Queue, *, since: datetime) -> list[Pair]:
    reviews = list(
        FourEyesReview.objects.filter(
            first_task__queue=queue,
            status__in=[FourEyesStatus.AGREED, FourEyesStatus.DISAGREED],
            compared_at__gte=since,
        )
        .order_by("-compared_at")
        .values_list("item_id", "compared_at", "first_task_id", "second_task_id")[:MAX_PAIRS]
    )
    task_ids = [task for review in reviews for task in review[2:]]
    decisions = {
        decision.task_id: decision
        for decision in Decision.objects.filter(task_id__in=task_ids)
        .select_related("reviewer")
        .prefetch_related("reason_codes")
    }

    def answer(task_id: int) -> Answer:
        decision = decisions[task_id]
        codes = sorted(code.code for code in decision.reason_codes.all())
        return Answer(
            reviewer=decision.reviewer.get_username(),
            outcome=decision.outcome,
            output=decision.output if isinstance(decision.output, dict) else {},
            reason=codes[0] if codes else NO_REASON,
        )

    return [
        Pair(item_id, compared_at, answer(first), answer(second))
        for item_id, compared_at, first, second in reviews
        if compared_at is not None and first in decisions and second in decisions
    ]


def _alpha(name: str, units: Sequence[tuple], distance=nominal_distance) -> Alpha:
    def statistic(sample: Sequence[tuple]) -> float | None:
        return krippendorff_alpha(sample, distance)

    compared = [unit for unit in units if sum(value is not None for value in unit) >= 2]
    return Alpha(
        name=name,
        value=statistic(compared),
        interval=bootstrap_interval(compared, statistic),
        units=len(compared),
    )


def queue_agreement(queue: Queue, *, days: int = 90, weeks: int = 8) -> QueueAgreement:
    now = timezone.now()
    pairs = four_eyes_pairs(queue, since=now - timedelta(days=max(days, weeks * 7)))
    recent = [pair for pair in pairs if pair.compared_at >= now - timedelta(days=days)]
    fields = sorted(
        {name for pair in recent for side in (pair.first, pair.second) for name in side.output}
    )
    alphas = [_alpha("whole answer", [(p.first.whole, p.second.whole) for p in recent])]
    alphas.append(_alpha("outcome", [(p.first.outcome, p.second.outcome) for p in recent]))
    alphas.extend(
        _alpha(f"output: {name}", [(p.first.field(name), p.second.field(name)) for p in recent])
        for name in fields
    )
    alphas.append(
        _alpha(
            "reason (partial credit)",
            [(p.first.reason, p.second.reason) for p in recent],
            reason_distance,
        )
    )
    return QueueAgreement(
        pairs=len(recent),
        alphas=alphas,
        kappas=_kappas(recent),
        trend=_trend(pairs, now=now, weeks=weeks),
        hotspots=_hotspots(recent),
    )


def _kappas(pairs: list[Pair]) -> list[PairKappa]:
    by_reviewers: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for pair in pairs:
        a, b = pair.first, pair.second
        if a.reviewer > b.reviewer:
            a, b = b, a
        by_reviewers[(a.reviewer, b.reviewer)].append((a.whole, b.whole))
    return [
        PairKappa(
            names, len(answers), cohen_kappa(answers), bootstrap_interval(answers, cohen_kappa)
        )
        for names, answers in sorted(by_reviewers.items(), key=lambda entry: -len(entry[1]))
    ]


def _trend(pairs: list[Pair], *, now: datetime, weeks: int) -> list[tuple[str, float | None]]:
    trend = []
    for back in range(weeks - 1, -1, -1):
        start = now - timedelta(days=7 * (back + 1))
        end = now - timedelta(days=7 * back)
        week = [(p.first.whole, p.second.whole) for p in pairs if start <= p.compared_at < end]
        trend.append((f"{end:%m-%d}", krippendorff_alpha(week)))
    return trend


def _hotspots(pairs: list[Pair], *, limit: int = 10) -> list[Hotspot]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pair in pairs:
        if pair.first.whole == pair.second.whole:
            continue
        names = sorted((_describe(pair.first), _describe(pair.second)))
        groups[(names[0], names[1])].append(pair.item_id)
    ranked = sorted(groups.items(), key=lambda entry: -len(entry[1]))[:limit]
    return [Hotspot(answers, len(items), items[:5]) for answers, items in ranked]


def _describe(answer: Answer) -> str:
    """An answer for people: the outcome and the output's values."""
    values = ", ".join(f"{name} {value}" for name, value in sorted(answer.output.items()))
    return (
        f"{answer.outcome}: {values}" if values and answer.outcome != "reject" else answer.outcome
    )
