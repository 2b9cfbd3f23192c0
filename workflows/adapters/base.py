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


class ModelError(Exception):
    """The model endpoint failed or answered something unusable (retried, counted by the
    endpoint's circuit breaker)."""


class ModelAdapter(Protocol):
    """What every model binding offers the infer step: a batch in, one output per input."""

    endpoint_key: str

    def predict(self, batch: list[ModelInput]) -> list[ModelOutput]: ...
