"""The two seams between the machine side and the human side; nothing else crosses.

1. **route -> review.** The route step sends items to people's queues. The machine side does
   not know how a review task is opened: the review stage registers itself when Django starts
   (``ReviewsConfig.ready``) and the pipeline calls ``reviews_open`` inside the batch's
   transaction, so an item and its review task appear together or not at all.
2. **decision -> resume.** When an item's review is settled, the review stage calls
   ``item_review_decided`` inside the decision's transaction; the item's workflow resumes in a
   worker once that commits. The worker asks the review stage for the ``Verdict`` to finish
   the item with, and the reconciler asks it which items were settled but never resumed (a
   lost message).

The human side may read the machine side's models; the machine side imports nothing of the
human side. ``tests/test_architecture.py`` holds both rules.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from reviewapp.core.jobs import job_send_on_commit
from workflows.models import Item

RESUME_TASK = "workflows.resume_after_review"

# (item, queue slug, priority): what the route step decided for each item it sends to review.
Opening = tuple[Item, str, int]


@dataclass(frozen=True)
class Verdict:
    """What an item's settled review decided, for its workflow to finish with."""

    outcome: str  # an ItemOutcome: accepted, corrected or rejected
    output: dict
    reviewer: Any  # who decided: the actor of the item's "completed" audit event


class ReviewStage(Protocol):
    """What the machine side may ask of the human side."""

    def tasks_open(self, *, openings: list[Opening]) -> object: ...

    def item_verdict(self, *, item_id: int) -> Verdict | None:
        """None while the item's review is not settled (a four-eyes pair still open)."""

    def items_settled(self, *, limit: int) -> list[int]:
        """Items still awaiting review whose review is settled."""


_review_stage: ReviewStage | None = None


def review_stage_register(stage: ReviewStage) -> None:
    global _review_stage
    _review_stage = stage


def _stage() -> ReviewStage:
    if _review_stage is None:
        raise ImproperlyConfigured(
            "No review stage is installed: add reviewapp.review.reviews to INSTALLED_APPS."
        )
    return _review_stage


def reviews_open(*, openings: Sequence[Opening]) -> None:
    """Open a review task per item, in the caller's transaction."""
    _stage().tasks_open(openings=list(openings))


def item_review_decided(*, item_id: int) -> None:
    """The item's review is settled: resume its workflow once the decision commits."""
    job_send_on_commit(RESUME_TASK, item_id)


def review_verdict(*, item_id: int) -> Verdict | None:
    return _stage().item_verdict(item_id=item_id)


def items_review_settled(*, limit: int = 1000) -> list[int]:
    return _stage().items_settled(limit=limit)
