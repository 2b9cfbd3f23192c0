"""Reads of judges' agreement for the monitoring page."""

from dataclasses import dataclass

from reviewapp.review.judges.agreement import MAX_CHECKS
from workflows.judges.declaration import judge_declared, trust_rule
from workflows.judges.models import JudgeAgreement
from workflows.models import Workflow


@dataclass(frozen=True)
class JudgePanel:
    declared: str | None  # the judge the current definition names, "name@version"
    min_kappa: float
    min_items: int
    margin: float
    max_checks: int
    rows: list[JudgeAgreement]

    @property
    def trust_bar(self) -> float:
        """What the lower end of the interval must clear to become trusted."""
        return self.min_kappa + self.margin


def judge_panel(workflow: Workflow) -> JudgePanel | None:
    """Every judge version measured on the workflow, per rubric item; ``None`` when the
    workflow never had a judge."""
    rows = list(
        JudgeAgreement.objects.filter(workflow=workflow)
        .select_related("judge")
        .order_by("judge__name", "-judge__created_at", "rubric")
    )
    definition = workflow.current_version.definition if workflow.current_version else {}
    judge = judge_declared(definition)
    if judge is None and not rows:
        return None
    rule = trust_rule(judge or {})
    return JudgePanel(
        declared=f"{judge['name']}@{judge['version']}" if judge else None,
        min_kappa=rule.min_kappa,
        min_items=rule.min_items,
        margin=rule.margin,
        max_checks=MAX_CHECKS,
        rows=rows,
    )
