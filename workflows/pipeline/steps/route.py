"""Decide whether the output stands or a reviewer must look, and say why."""

import json

from workflows.judges.selectors import trusted_rubric_items
from workflows.pipeline.policy import facts_for, route
from workflows.pipeline.steps.context import StepContext


def run(context: StepContext) -> dict:
    inferred = context.previous["infer"]
    output = context.previous["postprocess"]["output"]
    facts = facts_for(
        confidence=inferred["confidence"],
        output=output,
        input=context.input,
        field_confidence=inferred.get("field_confidence"),
        judge=_judge_facts(context),
    )
    decision = route(
        policy=context.definition["routing"],
        facts=facts,
        default_queue=context.definition["queue"],
        # Keyed on the content, so the same ticket is sampled on every run and every retry.
        item_key=json.dumps(context.input, sort_keys=True),
        sample_rate_at_least=context.qa_sample_rate_raised,
    )
    reason = decision.as_reason()
    judged = context.previous.get("judge") or {}
    if judged.get("scores"):
        # Read when a reviewer decides the item: their decision is a check of this judge.
        reason["judge"] = {"id": judged["judge_version_id"], "version": judged["judge_version"]}
    return {
        "action": decision.action,
        "queue": decision.queue,
        "priority": decision.priority,
        "reason": reason,
    }


def _judge_facts(context: StepContext) -> dict[str, dict]:
    """The judge's scores of this item, each marked with whether routing may rely on it."""
    judged = context.previous.get("judge") or {}
    scores = judged.get("scores")
    if not scores:
        return {}
    trusted = trusted_rubric_items(
        workflow_id=context.workflow_id, judge_id=judged["judge_version_id"]
    )
    return {
        name: {"score": scored["score"], "passed": scored["passed"], "trusted": name in trusted}
        for name, scored in scores.items()
    }
