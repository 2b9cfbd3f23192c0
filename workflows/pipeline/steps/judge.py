"""Ask the workflow's LLM judge to score the model's output per rubric item.

Only workflows whose definition declares a ``judge`` are judged; the others pass through. A
judge that fails (or whose circuit is open) does not hold the item up: the step records why, the
endpoint's breaker counts it, and routing treats the missing scores like an untrusted judge
(people look). A running canary of the judge splits items between its two versions.
"""

import json
from collections import defaultdict

from workflows.judges.declaration import judge_declared
from workflows.models import ModelVersion, PromptTemplate
from workflows.pipeline.adapters.base import ModelError
from workflows.pipeline.adapters.judge import JudgeAdapter
from workflows.pipeline.breaker import (
    breaker_allows,
    breaker_record_failure,
    breaker_record_success,
)
from workflows.pipeline.steps.context import StepContext, StepFailed
from workflows.pipeline.traffic import models_for_items


def run_batch(contexts: list[StepContext]) -> list[dict | StepFailed]:
    results: list[dict | StepFailed] = [{} for _ in contexts]
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, context in enumerate(contexts):
        judge = judge_declared(context.definition)
        if judge is not None:
            binding = {"name": judge["name"], "version": judge["version"]}
            groups[(context.workflow_id, json.dumps(binding, sort_keys=True))].append(index)
    for (workflow_id, binding_json), indexes in groups.items():
        binding = json.loads(binding_json)
        try:
            chosen = models_for_items(
                workflow_id=workflow_id,
                binding=binding,
                # Keyed on the content, as the model's canary is: an item keeps its arm.
                item_keys=[json.dumps(contexts[i].input, sort_keys=True) for i in indexes],
            )
        except ModelVersion.DoesNotExist:
            for index in indexes:
                results[index] = {
                    "error": f"no judge {binding['name']}@{binding['version']} is registered"
                }
            continue
        by_judge: dict[ModelVersion, list[int]] = defaultdict(list)
        for index, judge_version in zip(indexes, chosen, strict=True):
            by_judge[judge_version].append(index)
        for judge_version, served in by_judge.items():
            for index, answer in zip(
                served, _ask(judge_version, [contexts[i] for i in served]), strict=True
            ):
                results[index] = answer
    return results


def _ask(judge_version: ModelVersion, contexts: list[StepContext]) -> list[dict]:
    key = str(judge_version)
    named = {"judge_version_id": judge_version.pk, "judge_version": key}
    if not breaker_allows(key):
        return [named | {"error": f"the circuit for {key} is open"}] * len(contexts)
    try:
        adapter = JudgeAdapter(judge_version)
    except (KeyError, PromptTemplate.DoesNotExist) as exc:
        # Registered without an endpoint or a prompt: nothing to call, and nothing to retry.
        problem = f"the judge {key} is not configured: {type(exc).__name__} {exc}"
        return [named | {"error": problem}] * len(contexts)
    results = []
    for context in contexts:
        rubric = context.definition["judge"]["rubric"]
        try:
            answer = adapter.score(
                item_input=context.input,
                output=context.previous["postprocess"]["output"],
                rubric=rubric,
            )
        except ModelError as exc:
            breaker_record_failure(key, str(exc))
            results.append(named | {"error": str(exc), "prompt_version": adapter.prompt_version})
            continue
        breaker_record_success(key)
        results.append(
            named
            | {
                "prompt_version": adapter.prompt_version,
                "scores": {
                    name: {"score": s.score, "passed": s.passed, "rationale": s.rationale}
                    for name, s in answer.scores.items()
                },
                "cost": answer.cost,
                "tokens": answer.tokens,
                "latency_ms": answer.latency_ms,
            }
        )
    return results
