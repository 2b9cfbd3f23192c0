"""Threshold simulator: what a candidate routing policy would have done to recent items.

It replays the last N finished items of a workflow through the candidate policy, using the
predictions they really got, and compares with what humans really decided:

- ``to_review`` / ``auto_accepted``: where the candidate would have sent them; ``four_eyes``
  counts the items among ``to_review`` that would get two independent reviewers, and
  ``reviews`` the human reviews the candidate costs (one per item, two per four-eyes item;
  a disagreement's senior review comes on top and cannot be replayed);
- ``residual_error``: among items the candidate would auto-accept *and* that a human did
  review (because the policy in force sent them to review), the share the human corrected or
  rejected: an estimate of how often auto-accepted answers would be wrong.
"""

import json
from dataclasses import dataclass, field

from workflows.models import Item, ItemOutcome, ItemStatus, Workflow
from workflows.pipeline.policy import facts_for, route

HUMAN_CHANGED = {ItemOutcome.CORRECTED, ItemOutcome.REJECTED}
HUMAN_REVIEWED = {ItemOutcome.ACCEPTED, *HUMAN_CHANGED}


@dataclass
class Tally:
    items: int = 0
    to_review: int = 0
    four_eyes: int = 0
    reviews: int = 0
    auto_accepted: int = 0
    # Of the items the policy would auto-accept, those a human reviewed, and those changed.
    auto_checked: int = 0
    auto_changed: int = 0

    @property
    def review_rate(self) -> float | None:
        return round(self.to_review / self.items, 4) if self.items else None

    @property
    def residual_error(self) -> float | None:
        return round(self.auto_changed / self.auto_checked, 4) if self.auto_checked else None

    def as_dict(self) -> dict:
        return {
            "items": self.items,
            "to_review": self.to_review,
            "four_eyes": self.four_eyes,
            "reviews": self.reviews,
            "auto_accepted": self.auto_accepted,
            "review_rate": self.review_rate,
            "auto_accepted_human_checked": self.auto_checked,
            "auto_accepted_human_changed": self.auto_changed,
            "residual_error": self.residual_error,
        }


@dataclass
class Simulation:
    total: Tally = field(default_factory=Tally)
    per_class: dict[str, Tally] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "total": self.total.as_dict(),
            "per_class": {
                label: tally.as_dict() for label, tally in sorted(self.per_class.items())
            },
        }


def policy_simulate(*, workflow: Workflow, policy: dict, last: int) -> Simulation:
    definition = workflow.current_version.definition if workflow.current_version else {}
    items = (
        Item.objects.filter(
            workflow=workflow, status=ItemStatus.COMPLETED, prediction__isnull=False
        )
        # Gold items (review.quality) are tests of reviewers, not traffic the policy routed.
        .filter(gold__isnull=True)
        .select_related("prediction")
        .order_by("-completed_at", "-id")[:last]
    )
    simulation = Simulation()
    for item in items:
        prediction = item.prediction
        decision = route(
            policy=policy,
            facts=facts_for(
                confidence=prediction.confidence, output=prediction.output, input=item.input
            ),
            default_queue=definition.get("queue", ""),
            item_key=json.dumps(item.input, sort_keys=True),
        )
        label = str(prediction.output.get("label", ""))
        for tally in (simulation.total, simulation.per_class.setdefault(label, Tally())):
            tally.items += 1
            if decision.action != "auto_accept":
                tally.to_review += 1
                tally.four_eyes += decision.action == "four_eyes"
                tally.reviews += decision.reviews
                continue
            tally.auto_accepted += 1
            if item.outcome in HUMAN_REVIEWED:
                tally.auto_checked += 1
                tally.auto_changed += item.outcome in HUMAN_CHANGED
    return simulation
