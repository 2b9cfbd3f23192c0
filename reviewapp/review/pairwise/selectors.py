"""Reads of pairwise review: a comparison as a reviewer sees it (blind), and win rates.

Win rate: among the decisive comparisons of two model versions (ties left out), the share the
candidate won, with a 95 % Wilson score interval (``core.statistics.wilson_interval``). Ties are
counted and shown but move neither side: the interval answers "when people prefer one, how often
is it the candidate?". The champion's win rate is the complement.
"""

from dataclasses import dataclass

from django.db.models import Count, Q

from reviewapp.core.statistics import Proportion, wilson_interval
from reviewapp.review.pairwise.models import Comparison, Preferred, Side
from reviewapp.review.reviews.models import ReviewTask


@dataclass(frozen=True)
class BlindComparison:
    """What a reviewer is shown: the input and the outputs as A and B, no version anywhere."""

    comparison: Comparison
    input: dict
    a: object
    b: object


def comparison_for_task(task: ReviewTask) -> BlindComparison:
    comparison = Comparison.objects.get(task=task)
    return BlindComparison(
        comparison=comparison,
        input=task.item.input,
        a=comparison.output_on(Side.A),
        b=comparison.output_on(Side.B),
    )


@dataclass(frozen=True)
class Matchup:
    """Decided comparisons of one candidate against one champion."""

    champion: str
    candidate: str
    champion_id: int
    candidate_id: int
    decided: int
    candidate_wins: int
    champion_wins: int
    ties: int
    open: int

    @property
    def candidate_win_rate(self) -> Proportion:
        return wilson_interval(self.candidate_wins, self.candidate_wins + self.champion_wins)

    @property
    def champion_win_rate(self) -> Proportion:
        return wilson_interval(self.champion_wins, self.candidate_wins + self.champion_wins)

    def as_dict(self) -> dict:
        def rate(p: Proportion) -> dict:
            return {
                "wins": p.successes,
                "decisive": p.trials,
                "win_rate": None if p.estimate is None else round(p.estimate, 4),
                "low": round(p.low, 4),
                "high": round(p.high, 4),
            }

        return {
            "champion": self.champion,
            "candidate": self.candidate,
            "decided": self.decided,
            "ties": self.ties,
            "open": self.open,
            "candidate_win_rate": rate(self.candidate_win_rate),
            "champion_win_rate": rate(self.champion_win_rate),
            "interval": "wilson-95-decisive",
        }


def matchups(*, workflow_id: int, champion_id: int | None = None, candidate_id: int | None = None):
    """Each (champion, candidate) pair of the workflow's comparisons, in one query."""
    rows = Comparison.objects.filter(workflow_id=workflow_id)
    if champion_id is not None:
        rows = rows.filter(champion_id=champion_id)
    if candidate_id is not None:
        rows = rows.filter(candidate_id=candidate_id)
    decided = Q(decided_at__isnull=False)
    grouped = (
        rows.values(
            "champion_id",
            "candidate_id",
            "champion__name",
            "champion__version",
            "candidate__name",
            "candidate__version",
        )
        .annotate(
            decided=Count("id", filter=decided),
            candidate_wins=Count("id", filter=decided & Q(preferred=Preferred.CANDIDATE)),
            champion_wins=Count("id", filter=decided & Q(preferred=Preferred.CHAMPION)),
            ties=Count("id", filter=decided & Q(preferred=Preferred.TIE)),
            open=Count("id", filter=~decided & Q(task__status__in=["open", "claimed"])),
        )
        .order_by("champion_id", "candidate_id")
    )
    return [
        Matchup(
            champion=f"{row['champion__name']}@{row['champion__version']}",
            candidate=f"{row['candidate__name']}@{row['candidate__version']}",
            champion_id=row["champion_id"],
            candidate_id=row["candidate_id"],
            decided=row["decided"],
            candidate_wins=row["candidate_wins"],
            champion_wins=row["champion_wins"],
            ties=row["ties"],
            open=row["open"],
        )
        for row in grouped
    ]


def candidate_win_rate(*, workflow_id: int, champion_id: int, candidate_id: int) -> Proportion:
    """The candidate's win rate against the champion on the workflow (the canary's gate)."""
    found = matchups(workflow_id=workflow_id, champion_id=champion_id, candidate_id=candidate_id)
    return found[0].candidate_win_rate if found else wilson_interval(0, 0)
