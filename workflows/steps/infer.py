"""Ask the workflow's model for an output and its confidence, through its circuit breaker."""

import json
import time

from workflows.adapters.base import ModelError, ModelInput
from workflows.adapters.registry import adapter_for
from workflows.breaker import breaker_allows, breaker_record_success
from workflows.canary import model_for_item
from workflows.models import ModelVersion
from workflows.schemas import schema_errors
from workflows.steps.context import StepContext, StepFailed


def run(context: StepContext) -> dict:
    binding = context.definition["model"]
    try:
        model_version = model_for_item(
            workflow_id=context.workflow_id,
            binding=binding,
            # Keyed on the content: the same item always meets the same arm of a canary.
            item_key=json.dumps(context.input, sort_keys=True),
        )
    except ModelVersion.DoesNotExist:
        raise StepFailed(f"no model {binding['name']}@{binding['version']} is registered") from None
    key = str(model_version)
    if not breaker_allows(key):
        raise StepFailed(
            f"the circuit for {key} is open; calls resume after it cools down", counts=False
        )
    try:
        adapter = adapter_for(model_version)
        started = time.perf_counter()  # the call itself, not loading the model
        (result,) = adapter.predict(
            [ModelInput(input=context.input, text=context.previous["validate"]["model_text"])]
        )
    except ModelError as exc:
        raise StepFailed(str(exc), breaker_key=key) from exc
    latency_ms = (time.perf_counter() - started) * 1000
    breaker_record_success(key)
    errors = schema_errors(context.definition["output_schema"], result.output)
    if errors:
        # The endpoint answered, but not in the workflow's shape: a model failure, retried.
        raise StepFailed(
            f"model output does not match the output schema: {errors}", breaker_key=key
        )
    return {
        "model_version_id": model_version.pk,
        "model_version": key,
        "output": result.output,
        "confidence": result.confidence,
        "field_confidence": result.field_confidence,
        "probabilities": result.probabilities,
        "latency_ms": round(latency_ms, 3),
        "cost": result.cost,
        "prompt_version": getattr(adapter, "prompt_version", ""),
        "tokens": result.tokens,
    }
