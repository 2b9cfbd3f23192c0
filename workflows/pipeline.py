"""The order of the pipeline, declared once.

Each step is a plain function ``run(StepContext) -> dict``; the engine persists what it returns.
"""

from collections.abc import Callable

from workflows.steps import infer, postprocess, route, validate
from workflows.steps.context import StepContext

STEPS: tuple[tuple[str, Callable[[StepContext], dict]], ...] = (
    ("validate", validate.run),
    ("infer", infer.run),
    ("postprocess", postprocess.run),
    ("route", route.run),
)

FIRST_STEP = STEPS[0][0]
STEP_FUNCTIONS = dict(STEPS)
_NAMES = [name for name, _ in STEPS]


def next_step(step: str) -> str | None:
    index = _NAMES.index(step)
    return _NAMES[index + 1] if index + 1 < len(_NAMES) else None
