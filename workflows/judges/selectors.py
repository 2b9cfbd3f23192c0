from workflows.judges.models import JudgeAgreement


def trusted_rubric_items(*, workflow_id: int, judge_id: int) -> set[str]:
    """The rubric items of a judge version that routing may rely on for this workflow."""
    return set(
        JudgeAgreement.objects.filter(
            workflow_id=workflow_id, judge_id=judge_id, trusted=True
        ).values_list("rubric", flat=True)
    )
