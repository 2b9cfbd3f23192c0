from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ModelOutput:
    output: dict
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)


class ModelAdapter(Protocol):
    """What every model binding offers the infer step: a batch in, one output per input."""

    def predict(self, texts: list[str]) -> list[ModelOutput]: ...
