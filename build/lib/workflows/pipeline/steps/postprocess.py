"""Business rules on the model's output before routing.

The demo's rules only fix the output's shape: labels outside the workflow's list are a model
failure, not something to route. Rules that decide *who* looks live in the routing policy.
"""

from workflows.pipeline.steps.context import StepContext, StepFailed


def run(context: StepContext) -> dict:
    output = dict(context.previous["infer"]["output"])
    labels = context.definition.get("labels")
    if labels and output.get("label") not in labels:
        raise StepFailed(f"model answered {output.get('label')!r}, not one of {labels}")
    return {"output": output}
