from dataclasses import dataclass, field


class StepFailed(Exception):
    """A step could not do its work; the engine records the reason and retries or dead-letters.

    ``permanent`` failures (bad input that no retry can fix) dead-letter at once. A failure of
    a model endpoint names its ``breaker_key`` so the endpoint's circuit breaker counts it;
    ``counts=False`` (the breaker is open) retries later without using up the item's attempts.
    ``cost`` is what a failed model call was still charged (it counts against the budget).
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        breaker_key: str = "",
        counts: bool = True,
        cost: float = 0.0,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.breaker_key = breaker_key
        self.counts = counts
        self.cost = cost


@dataclass(frozen=True)
class StepContext:
    item_id: int
    workflow_id: int
    input: dict
    definition: dict
    # Outputs of the steps that already succeeded, by step name.
    previous: dict[str, dict] = field(default_factory=dict)
    # The workflow's raised QA sample rate, while its accuracy is below the policy's floor.
    qa_sample_rate_raised: float | None = None
