"""Decide whether the output stands or a reviewer must look, and say why."""

from workflows.steps.context import StepContext


def run(context: StepContext) -> dict:
    threshold = float(context.definition["routing"]["threshold"])
    confidence = context.previous["infer"]["confidence"]
    flags = context.previous["postprocess"]["review_flags"]
    if flags:
        return {
            "action": "review",
            "queue": context.definition["queue"],
            "reason": {"rule": "business_rule", "matched": flags, "confidence": confidence},
        }
    if confidence < threshold:
        return {
            "action": "review",
            "queue": context.definition["queue"],
            "reason": {"rule": "below_threshold", "confidence": confidence,
                       "threshold": threshold},
        }
    return {
        "action": "auto_accept",
        "reason": {"rule": "confident", "confidence": confidence, "threshold": threshold},
    }
