"""Ask the workflow's model for an output and its confidence."""

import time

from workflows.adapters.registry import adapter_for
from workflows.schemas import schema_errors
from workflows.steps.context import StepContext, StepFailed


def run(context: StepContext) -> dict:
    binding = context.definition["model"]
    adapter, model_version = adapter_for(name=binding["name"], version=binding["version"])
    started = time.perf_counter()
    (result,) = adapter.predict([context.previous["validate"]["model_text"]])
    latency_ms = (time.perf_counter() - started) * 1000
    errors = schema_errors(context.definition["output_schema"], result.output)
    if errors:
        raise StepFailed(f"model output does not match the output schema: {errors}")
    return {
        "model_version_id": model_version.pk,
        "model_version": str(model_version),
        "output": result.output,
        "confidence": result.confidence,
        "probabilities": result.probabilities,
        "latency_ms": round(latency_ms, 3),
    }
