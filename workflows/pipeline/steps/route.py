"""Decide whether the output stands or a reviewer must look, and say why."""

import json

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
    )
    decision = route(
        policy=context.definition["routing"],
        facts=facts,
        default_queue=context.definition["queue"],
        # Keyed on the content, so the same ticket is sampled on every run and every retry.
        item_key=json.dumps(context.input, sort_keys=True),
        sample_rate_at_least=context.qa_sample_rate_raised,
    )
    return {
        "action": decision.action,
        "queue": decision.queue,
        "priority": decision.priority,
        "reason": decision.as_reason(),
    }
