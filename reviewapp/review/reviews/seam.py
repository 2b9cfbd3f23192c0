"""The review stage's side of the seams with the machine side (``workflows.seams``).

Registered by ``ReviewsConfig.ready``: the pipeline opens review tasks through ``tasks_open``,
and the resume of a reviewed item reads its ``item_verdict``.
"""

from reviewapp.review.reviews.models import DecisionOutcome, ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_tasks_open
from workflows.models import Item, ItemOutcome, ItemStatus
from workflows.seams import Opening, Verdict

ITEM_OUTCOMES = {
    DecisionOutcome.ACCEPT: ItemOutcome.ACCEPTED,
    DecisionOutcome.CORRECT: ItemOutcome.CORRECTED,
    DecisionOutcome.REJECT: ItemOutcome.REJECTED,
}
PENDING = [TaskStatus.OPEN, TaskStatus.CLAIMED]


def tasks_open(*, openings: list[Opening]) -> list[ReviewTask]:
    return review_tasks_open(openings=openings)


def item_verdict(*, item_id: int) -> Verdict | None:
    # An item has one task, or a few (four-eyes, a senior's): one query reads them all.
    tasks = list(
        ReviewTask.objects.filter(item_id=item_id, status__in=[*PENDING, TaskStatus.DECIDED])
        .select_related("decision", "decision__reviewer")
        .order_by("-decided_at")
    )
    # A four-eyes item has a second (or a senior) review still open until it is settled.
    if not tasks or any(task.status in PENDING for task in tasks):
        return None
    decision = tasks[0].decision
    return Verdict(
        outcome=ITEM_OUTCOMES[DecisionOutcome(decision.outcome)],
        output=decision.output,
        reviewer=decision.reviewer,
    )


def items_settled(*, limit: int) -> list[int]:
    return list(
        Item.objects.filter(status=ItemStatus.AWAITING_REVIEW, tasks__status=TaskStatus.DECIDED)
        .exclude(tasks__status__in=PENDING)
        .values_list("pk", flat=True)
        .distinct()[:limit]
    )
