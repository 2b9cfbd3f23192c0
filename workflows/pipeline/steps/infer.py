"""Ask the workflow's model for outputs and their confidence, through its circuit breaker.

A batch is answered with one call per model version where the adapter allows it (the built-in
model predicts the whole batch at once); a canary splits the batch between its two arms.
"""

import json
import time
from collections import defaultdict

from reviewapp.core import tracing
from workflows.models import ModelVersion, Shadow, ShadowStatus
from workflows.pipeline.adapters.base import ModelError, ModelInput, ModelOutput, predict_each
from workflows.pipeline.adapters.registry import adapter_for
from workflows.pipeline.breaker import breaker_allows, breaker_record_success
from workflows.pipeline.steps.context import StepContext, StepFailed
from workflows.pipeline.traffic import models_for_items
from workflows.schemas import schema_errors


def run_batch(contexts: list[StepContext]) -> list[dict | StepFailed]:
    results: list[dict | StepFailed] = [StepFailed("not run")] * len(contexts)
    by_workflow: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, context in enumerate(contexts):
        binding = json.dumps(context.definition["model"], sort_keys=True)
        by_workflow[(context.workflow_id, binding)].append(index)
    for (workflow_id, binding_json), indexes in by_workflow.items():
        binding = json.loads(binding_json)
        try:
            chosen = models_for_items(
                workflow_id=workflow_id,
                binding=binding,
                # Keyed on the content: the same item always meets the same arm of a canary.
                item_keys=[json.dumps(contexts[i].input, sort_keys=True) for i in indexes],
            )
        except ModelVersion.DoesNotExist:
            missing = StepFailed(f"no model {binding['name']}@{binding['version']} is registered")
            for index in indexes:
                results[index] = missing
            continue
        by_model: dict[ModelVersion, list[int]] = defaultdict(list)
        for index, model_version in zip(indexes, chosen, strict=True):
            by_model[model_version].append(index)
        for model_version, served in by_model.items():
            answers = _ask(model_version, [contexts[i] for i in served])
            for index, answer in zip(served, answers, strict=True):
                results[index] = answer
        _ask_shadow(workflow_id, [(contexts[i], results[i]) for i in indexes])
    return results


def _ask_shadow(workflow_id: int, answered: list[tuple[StepContext, dict | StepFailed]]) -> None:
    """The workflow's shadow model answers the items the serving model answered; its answer (or
    its failure) rides along in the step's output under ``shadow`` and never fails the step."""
    shadow = (
        Shadow.objects.filter(workflow_id=workflow_id, status=ShadowStatus.RUNNING)
        .select_related("candidate")
        .first()
    )
    served = [(context, result) for context, result in answered if isinstance(result, dict)]
    if shadow is None or not served:
        return
    answers = _ask(shadow.candidate, [context for context, _ in served])
    for (_, result), answer in zip(served, answers, strict=True):
        if isinstance(answer, StepFailed):
            result["shadow"] = {"shadow_id": shadow.pk, "error": answer.reason, "cost": answer.cost}
        else:
            result["shadow"] = {
                "shadow_id": shadow.pk,
                "output": answer["output"],
                "confidence": answer["confidence"],
                "latency_ms": answer["latency_ms"],
                "cost": answer["cost"],
            }


def _ask(model_version: ModelVersion, contexts: list[StepContext]) -> list[dict | StepFailed]:
    key = str(model_version)
    if not breaker_allows(key):
        refused = StepFailed(
            f"the circuit for {key} is open; calls resume after it cools down", counts=False
        )
        return [refused] * len(contexts)
    try:
        adapter = adapter_for(model_version)
    except ModelError as exc:
        return [StepFailed(str(exc), breaker_key=key)] * len(contexts)
    started = time.perf_counter()  # the calls themselves, not loading the model
    with tracing.span(
        "model.predict",
        **{"reviewapp.model": key, "reviewapp.item_ids": [c.item_id for c in contexts]},
    ):
        answers = predict_each(
            adapter,
            [
                ModelInput(input=context.input, text=context.previous["validate"]["model_text"])
                for context in contexts
            ],
        )
    # A batched call's time is shared by its items: the cost of one item's answer.
    shared_ms = (time.perf_counter() - started) * 1000 / len(contexts)
    prompt_version = getattr(adapter, "prompt_version", "")
    results: list[dict | StepFailed] = []
    for context, answer in zip(contexts, answers, strict=True):
        if isinstance(answer, ModelError):
            results.append(StepFailed(str(answer), breaker_key=key))
        else:
            results.append(_checked(context, model_version, answer, shared_ms, prompt_version))
    if any(not isinstance(answer, ModelError) for answer in answers):
        breaker_record_success(key)
    return results


def _checked(
    context: StepContext,
    model_version: ModelVersion,
    result: ModelOutput,
    shared_ms: float,
    prompt_version: str,
) -> dict | StepFailed:
    key = str(model_version)
    errors = schema_errors(context.definition["output_schema"], result.output)
    if errors:
        # The endpoint answered, but not in the workflow's shape: a model failure, retried.
        return StepFailed(
            f"model output does not match the output schema: {errors}",
            breaker_key=key,
            cost=result.cost,
        )
    latency_ms = result.latency_ms if result.latency_ms is not None else shared_ms
    return {
        "model_version_id": model_version.pk,
        "model_version": key,
        "output": result.output,
        "confidence": result.confidence,
        "field_confidence": result.field_confidence,
        "probabilities": result.probabilities,
        "latency_ms": round(latency_ms, 3),
        "cost": result.cost,
        "prompt_version": prompt_version,
        "tokens": result.tokens,
    }
