"""Reads for reviewer quality: four-eyes answers for the senior reviewer, figures per reviewer."""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from reviewapp.review.quality.models import (
    FourEyesReview,
    FourEyesStatus,
    GoldItem,
    GoldTask,
    QueueQuality,
)
from reviewapp.review.reviews.models import Decision, Queue, ReviewTask


@dataclass(frozen=True)
class FourEyesAnswer:
    reviewer: str
    outcome: str
    output: dict
    reason_codes: list[str]
    comment: str


@dataclass(frozen=True)
class FourEyesForTask:
    """What the review page may show about the four-eyes review a task belongs to.

    ``answers`` holds the pair's answers only for the senior task: the two reviewers decide
    independently and never see each other's answer.
    """

    role: str  # "first" | "second" | "senior"
    review: FourEyesReview
    answers: list[FourEyesAnswer] = field(default_factory=list)


def four_eyes_for_task(task: ReviewTask) -> FourEyesForTask | None:
    review = (
        FourEyesReview.objects.filter(
            Q(first_task=task) | Q(second_task=task) | Q(senior_task=task)
        )
        .select_related("first_task", "second_task")
        .first()
    )
    if review is None:
        return None
    if task.pk != review.senior_task_id:
        return FourEyesForTask(
            role="first" if task.pk == review.first_task_id else "second", review=review
        )
    decisions = (
        Decision.objects.filter(task_id__in=[review.first_task_id, review.second_task_id])
        .select_related("reviewer")
        .prefetch_related("reason_codes")
        .order_by("decided_at", "id")
    )
    answers = [
        FourEyesAnswer(
            reviewer=decision.reviewer.get_username(),
            outcome=decision.get_outcome_display(),
            output=decision.output,
            reason_codes=sorted(code.code for code in decision.reason_codes.all()),
            comment=decision.comment,
        )
        for decision in decisions
    ]
    return FourEyesForTask(role="senior", review=review, answers=answers)


def queue_quality_for(queue: Queue) -> QueueQuality:
    """The queue's settings; an unsaved default row when none were set."""
    return QueueQuality.objects.filter(queue=queue).select_related("senior_queue").first() or (
        QueueQuality(queue=queue)
    )


def gold_items_for_queue(queue: Queue) -> QuerySet[GoldItem]:
    return GoldItem.objects.filter(queue=queue).annotate(
        shown=Count("showings"),
        scored=Count("showings", filter=Q(showings__scored_at__isnull=False)),
        correct=Count("showings", filter=Q(showings__correct=True)),
    )


@dataclass
class ReviewerQuality:
    reviewer: str
    decisions: int = 0  # decisions on real tasks (gold left out)
    gold_total: int = 0
    gold_correct: int = 0
    paired: int = 0  # four-eyes reviews where both answers are in and this reviewer gave one
    agreed: int = 0

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_total if self.gold_total else None

    @property
    def agreement_rate(self) -> float | None:
        return self.agreed / self.paired if self.paired else None

    def as_dict(self) -> dict:
        return {
            "reviewer": self.reviewer,
            "decisions": self.decisions,
            "gold_total": self.gold_total,
            "gold_correct": self.gold_correct,
            "gold_accuracy": _round(self.gold_accuracy),
            "four_eyes_paired": self.paired,
            "four_eyes_agreed": self.agreed,
            "agreement_rate": _round(self.agreement_rate),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def reviewer_quality(*, queues) -> list[ReviewerQuality]:
    """Per reviewer, over the given queues: decisions, gold accuracy, four-eyes agreement.

    Five grouped queries whatever the number of reviewers. A four-eyes review counts for the
    queue its pair was opened in; a gold showing for the queue its task is in.
    """
    rows: dict[int, ReviewerQuality] = {}

    def row(user_id: int) -> ReviewerQuality:
        return rows.setdefault(user_id, ReviewerQuality(reviewer=""))

    decided = (
        Decision.objects.filter(task__queue__in=queues, task__gold__isnull=True)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
    )
    for reviewer_id, count in decided:
        row(reviewer_id).decisions = count
    scored = (
        GoldTask.objects.filter(task__queue__in=queues, scored_at__isnull=False)
        .values_list("task__decision__reviewer_id")
        .annotate(total=Count("id"), correct=Count("id", filter=Q(correct=True)))
    )
    for reviewer_id, total, correct in scored:
        quality = row(reviewer_id)
        quality.gold_total, quality.gold_correct = total, correct
    compared = FourEyesReview.objects.filter(
        first_task__queue__in=queues,
        status__in=[FourEyesStatus.AGREED, FourEyesStatus.DISAGREED],
    )
    for side in ("first_task", "second_task"):
        key = f"{side}__decision__reviewer_id"
        for entry in compared.values(key).annotate(
            paired=Count("id"), agreed=Count("id", filter=Q(status=FourEyesStatus.AGREED))
        ):
            quality = row(entry[key])
            quality.paired += entry["paired"]
            quality.agreed += entry["agreed"]
    names = dict(get_user_model().objects.filter(pk__in=rows).values_list("pk", "username"))
    for user_id, quality in rows.items():
        quality.reviewer = names[user_id]
    return sorted(rows.values(), key=lambda quality: quality.reviewer)
