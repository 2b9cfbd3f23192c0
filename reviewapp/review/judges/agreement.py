"""Each judge version's agreement with reviewers per rubric item, and the trust gate.

Agreement is Cohen's kappa between the judge's pass/fail and the reviewers' (``checks.py``) with
a bootstrap 95 % interval, the same statistics as reviewer agreement
(``reviewapp.review.quality.agreement``), over the most recent checks. Routing may rely on a
rubric item only while the lower end of that interval is above the workflow's ``min_kappa`` over
at least ``min_items`` checks (to become trusted it must clear ``min_kappa`` by ``margin``, so a
judge at the bar does not flip with every decision). A change of trust, either way, is audited
and the workflow's managers are told once.

A job recomputes the rows a decision marked stale (sent after the decision commits); a beat
sweep picks up rows whose message was lost. Requests never recompute anything.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from reviewapp.core.accounts.models import Membership, Role
from reviewapp.core.audit.services import audit_record
from reviewapp.core.statistics import bootstrap_interval, cohen_kappa
from reviewapp.review.sla.inbox import notifications_create
from reviewapp.review.sla.models import Notification, NotificationKind
from workflows.judges.declaration import TrustRule, judge_declared, trust_rule
from workflows.judges.models import JudgeAgreement, JudgeCheck
from workflows.models import Workflow

# The most recent checks measure a judge: enough for a stable figure, bounded work, and a judge
# that drifts loses trust within this many decisions at most.
MAX_CHECKS = 1000


@dataclass(frozen=True)
class Measured:
    items: int
    agreed: int
    kappa: float | None
    interval: tuple[float, float] | None


def judge_kappa(
    *, workflow_id: int, judge_id: int, rubric: str, since: datetime | None = None
) -> Measured:
    checks = JudgeCheck.objects.filter(workflow_id=workflow_id, judge_id=judge_id, rubric=rubric)
    if since is not None:
        checks = checks.filter(decided_at__gte=since)
    pairs = list(
        checks.order_by("-decided_at", "-id").values_list("judge_passed", "human_passed")[
            :MAX_CHECKS
        ]
    )
    return Measured(
        items=len(pairs),
        agreed=sum(judge == human for judge, human in pairs),
        kappa=cohen_kappa(pairs),
        interval=bootstrap_interval(pairs, cohen_kappa),
    )


def judge_agreement_measure(*, workflow_id: int, judge_id: int) -> list[JudgeAgreement]:
    """Recompute the stale rows of one judge version on one workflow; returns them."""
    return [
        _measure(row_id, marks)
        for row_id, marks in JudgeAgreement.objects.filter(
            workflow_id=workflow_id, judge_id=judge_id, stale=True
        ).values_list("pk", "marks")
    ]


def _measure(row_id: int, marks: int) -> JudgeAgreement:
    row = JudgeAgreement.objects.select_related("workflow__current_version", "judge").get(pk=row_id)
    result = judge_kappa(workflow_id=row.workflow_id, judge_id=row.judge_id, rubric=row.rubric)
    definition = row.workflow.current_version.definition if row.workflow.current_version else {}
    judge = judge_declared(definition)
    rule = trust_rule(judge or {})
    with transaction.atomic(durable=True):
        locked = JudgeAgreement.objects.select_for_update(of=("self",)).get(pk=row_id)
        if locked.measured_marks >= marks:
            # Two jobs ran side by side and the one that read more checks wrote first.
            return locked
        locked.workflow, locked.judge = row.workflow, row.judge
        locked.measured_marks = marks
        locked.items, locked.agreed, locked.kappa = result.items, result.agreed, result.kappa
        locked.kappa_low, locked.kappa_high = result.interval or (None, None)
        locked.measured_at = timezone.now()
        # A decision committed since the checks were read marked the row again: it stays stale.
        locked.stale = locked.marks != marks
        # A judge the current definition no longer declares is not relied on.
        trusted = judge is not None and rule.holds(
            items=result.items,
            kappa_low=result.interval[0] if result.interval else None,
            trusted_now=locked.trusted,
        )
        changed = locked.trusted != trusted
        if changed:
            locked.trusted = trusted
            locked.trust_changed_at = locked.measured_at
        locked.save()
        if changed:
            _trust_changed(locked, result, rule)
    return locked


def _trust_changed(row: JudgeAgreement, result: Measured, rule: TrustRule) -> None:
    workflow: Workflow = row.workflow
    interval = (
        f"{result.interval[0]:.2f} to {result.interval[1]:.2f}"
        if result.interval
        else "not yet known"
    )
    audit_record(
        action="judge.trusted" if row.trusted else "judge.untrusted",
        obj=row,
        chain=workflow.audit_chain,
        data={
            "judge": str(row.judge),
            "rubric": row.rubric,
            "items": result.items,
            "kappa": None if result.kappa is None else round(result.kappa, 4),
            "interval": [round(v, 4) for v in result.interval] if result.interval else None,
            "min_kappa": rule.min_kappa,
            "min_items": rule.min_items,
            "margin": rule.margin,
        },
    )
    if row.trusted:
        message = (
            f"Routing of {workflow.name} now relies on the judge {row.judge} for "
            f"{row.rubric}: over {result.items} reviewed items its kappa with reviewers is "
            f"{interval} (95% interval), above {rule.min_kappa + rule.margin:.2f}."
        )
    else:
        message = (
            f"The judge {row.judge} is no longer trusted for {row.rubric} on {workflow.name}: "
            f"over {result.items} reviewed items its kappa with reviewers is {interval} (95% "
            f"interval), not above {rule.min_kappa:.2f}. Items its rules decided go to reviewers."
        )
    managers = Membership.objects.filter(team_id=workflow.team_id, role=Role.MANAGER)
    notifications_create(
        Notification(
            recipient=membership.user,
            kind=NotificationKind.JUDGE_TRUST_CHANGED,
            message=message,
            created_at=row.trust_changed_at or timezone.now(),
            email_to=membership.user.email,
        )
        for membership in managers.select_related("user")
    )


def judge_agreements_measure_stale() -> int:
    """Beat sweep: every row still marked stale (its job's message was lost); returns how many."""
    pairs = set(JudgeAgreement.objects.filter(stale=True).values_list("workflow_id", "judge_id"))
    return sum(
        len(judge_agreement_measure(workflow_id=workflow_id, judge_id=judge_id))
        for workflow_id, judge_id in pairs
    )
