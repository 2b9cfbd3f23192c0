from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ModelInput:
    input: dict
    # The workflow's text fields joined, for models that read plain text.
    text: str


@dataclass(frozen=True)
class ModelOutput:
    output: dict
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)
    # Per output field, when the model gives it; otherwise the overall confidence applies.
    field_confidence: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    # Set by adapters that call the model once per input; a batched call's time is shared.
    latency_ms: float | None = None


class ModelError(Exception):
    """The model endpoint failed or answered something unusable (retried, counted by the
    endpoint's circuit breaker)."""


class ModelAdapter(Protocol):
    """What every model binding offers the infer step: a batch in, one output per input.

    ``predict`` answers for the whole batch or raises ``ModelError`` for all of it. Adapters
    whose protocol takes one input per call also offer ``predict_each`` (see below), so one bad
    answer fails only its own item.
    """

    endpoint_key: str

    def predict(self, batch: list[ModelInput]) -> list[ModelOutput]: ...


def predict_each(adapter: ModelAdapter, batch: list[ModelInput]) -> list[ModelOutput | ModelError]:
    """One outcome per input: the adapter's own per-input calls when it makes them, else one
    batched call whose failure is every input's failure."""
    each = getattr(adapter, "predict_each", None)
    if each is not None:
        return each(batch)
    try:
        outputs = adapter.predict(batch)
    except ModelError as exc:
        return [exc] * len(batch)
    return list(outputs)
