"""The order of the pipeline, declared once.

Each step runs over a batch: ``run_batch(list[StepContext]) -> list[dict | StepFailed]``, one
result per context, in order; the engine persists what it returns. Steps that work item by
item are plain functions ``run(StepContext) -> dict`` wrapped by ``each``; inference batches
for real (one model call for many items).
"""

import logging
from collections.abc import Callable

from workflows.pipeline.steps import infer, judge, postprocess, route, validate
from workflows.pipeline.steps.context import StepContext, StepFailed

logger = logging.getLogger(__name__)

BatchStep = Callable[[list[StepContext]], list[dict | StepFailed]]


def each(run: Callable[[StepContext], dict]) -> BatchStep:
    """A batch step from a per-item one: one item's failure (or crash) is only its own."""

    def run_batch(contexts: list[StepContext]) -> list[dict | StepFailed]:
        results: list[dict | StepFailed] = []
        for context in contexts:
            try:
                results.append(run(context))
            except StepFailed as failed:
                results.append(failed)
            except Exception as exc:  # a bug in a step: recorded, retried, dead-lettered
                logger.exception("step %s of item %s crashed", run.__module__, context.item_id)
                results.append(StepFailed(f"{type(exc).__name__}: {exc}"))
        return results

    return run_batch


STEPS: tuple[tuple[str, BatchStep], ...] = (
    ("validate", each(validate.run)),
    ("infer", infer.run_batch),
    ("postprocess", each(postprocess.run)),
    # Scores the output when the workflow declares an LLM judge; passes through otherwise.
    ("judge", judge.run_batch),
    ("route", each(route.run)),
)

FIRST_STEP = STEPS[0][0]
STEP_FUNCTIONS = dict(STEPS)
STEP_NAMES = [name for name, _ in STEPS]


def next_step(step: str) -> str | None:
    index = STEP_NAMES.index(step)
    return STEP_NAMES[index + 1] if index + 1 < len(STEP_NAMES) else None


def steps_needed_by(step: str) -> list[str]:
    """The earlier steps whose outputs ``step`` reads (all of them: outputs are small)."""
    return STEP_NAMES[: STEP_NAMES.index(step)]
