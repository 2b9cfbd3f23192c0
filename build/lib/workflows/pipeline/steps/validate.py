"""Check the input against the workflow's schema and keep only what the model needs."""

from workflows.pipeline.steps.context import StepContext, StepFailed
from workflows.schemas import schema_errors


def run(context: StepContext) -> dict:
    errors = schema_errors(context.definition["input_schema"], context.input)
    if errors:
        # Ingest validated already; reaching this means the definition changed underneath.
        raise StepFailed(f"input does not match the schema: {errors}", permanent=True)
    text_fields = context.definition.get("text_fields", [])
    model_text = "\n".join(str(context.input.get(name, "")) for name in text_fields)
    return {"model_text": model_text}
