"""Turning a reviewer's correction into a labeled example."""

import hashlib
import hmac

from django.conf import settings

from reviewapp.corrections.models import Correction, ReasonApplies, ReasonCode


def reviewer_pseudonym(user) -> str:
    """A stable id for a reviewer in datasets that does not reveal who they are."""
    return hmac.new(
        settings.REVIEWAPP_PSEUDONYM_KEY.encode(), f"reviewer:{user.pk}".encode(), hashlib.sha256
    ).hexdigest()[:16]


def output_diff(before: dict, after: dict) -> dict:
    """Field-level changes: ``{field: {"before": ..., "after": ...}}`` for fields that differ."""
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def reason_codes_for(workflow, outcome: str):
    return ReasonCode.objects.filter(
        workflow=workflow, active=True, applies_to__in=[outcome, ReasonApplies.BOTH]
    )


def correction_record(*, decision, item, prediction) -> Correction:
    """Called inside the decision's transaction."""
    return Correction.objects.create(
        decision=decision,
        item=item,
        workflow_id=item.workflow_id,
        input=item.input,
        model_output=prediction.output,
        human_output=decision.output,
        diff=output_diff(prediction.output, decision.output),
        reason_codes=sorted(code.code for code in decision.reason_codes.all()),
        comment=decision.comment,
        model_version=str(prediction.model_version),
        reviewer_pseudonym=reviewer_pseudonym(decision.reviewer),
        created_at=decision.decided_at,
    )


def reason_codes_sync(*, workflow, codes: list[tuple[str, str, str]]) -> None:
    """Make the workflow's taxonomy match ``codes``; retired codes stay for old decisions."""
    wanted = {code for code, _, _ in codes}
    for code, label, applies_to in codes:
        ReasonCode.objects.update_or_create(
            workflow=workflow,
            code=code,
            defaults={"label": label, "applies_to": applies_to, "active": True},
        )
    ReasonCode.objects.filter(workflow=workflow).exclude(code__in=wanted).update(active=False)
