"""Business rules that look at input and output together and may insist on a human."""

from workflows.steps.context import StepContext


def run(context: StepContext) -> dict:
    output = context.previous["infer"]["output"]
    flags = []
    for rule in context.definition.get("routing", {}).get("always_review", []):
        field_matches = context.input.get(rule["field"]) == rule["equals"]
        label_matches = "label" not in rule or output.get("label") == rule["label"]
        if field_matches and label_matches:
            flags.append(rule)
    return {"output": output, "review_flags": flags}
