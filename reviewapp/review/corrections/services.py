"""Turning a reviewer's correction into a labeled example."""

import hashlib
import hmac
import json

from django.conf import settings

from reviewapp.core.audit.services import audit_record
from reviewapp.review.corrections.models import Correction, ReasonApplies, ReasonCode


def reviewer_pseudonym(user) -> str:
    """A stable id for a reviewer in datasets that does not reveal who they are."""
    return reviewer_pseudonym_of(user.pk)


def reviewer_pseudonym_of(user_id: int) -> str:
    # Dataset exports compute the same in SQL (datasets.protection.hmac_hex16).
    return hmac.new(
        settings.REVIEWAPP_PSEUDONYM_KEY.encode(), f"reviewer:{user_id}".encode(), hashlib.sha256
    ).hexdigest()[:16]


def canonical_hash(value: object) -> str:
    """SHA-256 of the value's canonical JSON (sorted keys, no spaces, UTF-8 as is).

    Stored with each correction as ``input_hash``: datasets find duplicate inputs by it and
    split rows into train / validation / test by it, without reading the inputs themselves.
    """
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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


def correction_record(*, decision, item, prediction, reason_codes=None) -> Correction:
    """Called inside the decision's transaction.

    ``reason_codes``: the decision's ``ReasonCode``s when the caller has them at hand (saves
    reading back the links it just wrote).
    """
    if reason_codes is None:
        reason_codes = decision.reason_codes.all()
    return Correction.objects.create(
        decision=decision,
        item=item,
        workflow_id=item.workflow_id,
        workflow_version_id=item.workflow_version_id,
        input=item.input,
        input_hash=canonical_hash(item.input),
        model_output=prediction.output,
        human_output=decision.output,
        diff=output_diff(prediction.output, decision.output),
        reason_codes=sorted(code.code for code in reason_codes),
        comment=decision.comment,
        model_version=str(prediction.model_version),
        reviewer_pseudonym=reviewer_pseudonym(decision.reviewer),
        created_at=decision.decided_at,
    )


def reason_codes_sync(*, workflow, codes: list, acting_user=None) -> None:
    """Make the workflow's live taxonomy match ``codes`` (``ReasonEntry``s, parents first).

    Runs in the sync's transaction, after the workflow's current version was published. A
    reason whose label, parent or use changed is retired and replaced, never edited, so the
    decisions that chose it keep what it meant then.
    """
    version = workflow.current_version
    live = {
        reason.code: reason for reason in ReasonCode.objects.filter(workflow=workflow, active=True)
    }
    added: list[str] = []
    retired: list[str] = []

    def retire(reason: ReasonCode) -> None:
        reason.active = False
        reason.retired_in = version
        reason.save(update_fields=["active", "retired_in"])
        retired.append(reason.code)

    kept: dict[str, ReasonCode] = {}
    for entry in codes:
        parent = kept[entry.parent] if entry.parent else None
        current = live.pop(entry.code, None)
        if current is not None and (current.label, current.applies_to, current.parent_id) == (
            entry.label,
            entry.applies_to,
            parent.pk if parent else None,
        ):
            kept[entry.code] = current
            continue
        if current is not None:
            retire(current)
        kept[entry.code] = ReasonCode.objects.create(
            workflow=workflow,
            code=entry.code,
            label=entry.label,
            applies_to=entry.applies_to,
            parent=parent,
            introduced_in=version,
        )
        added.append(entry.code)
    for reason in live.values():
        retire(reason)
    if added or retired:
        audit_record(
            action="reason_codes.changed",
            obj=workflow,
            actor=acting_user,
            chain=workflow.audit_chain,
            data={
                "version": version.number if version else None,
                "added": sorted(added),
                "retired": sorted(retired),
            },
        )
