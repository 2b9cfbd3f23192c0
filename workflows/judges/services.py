from collections.abc import Iterable

from workflows.judges.models import JudgeScore
from workflows.models import Item


def judge_scores_record(judged: Iterable[tuple[Item, dict]]) -> None:
    """Store the judge step's scores of each item (a redelivered step finds them stored)."""
    JudgeScore.objects.bulk_create(
        (
            JudgeScore(
                item=item,
                judge_id=result["judge_version_id"],
                rubric=name,
                score=scored["score"],
                passed=scored["passed"],
                rationale=scored["rationale"],
            )
            for item, result in judged
            for name, scored in result.get("scores", {}).items()
        ),
        ignore_conflicts=True,
    )
