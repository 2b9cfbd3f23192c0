from dataclasses import dataclass, field


class StepFailed(Exception):
    """A step could not do its work; the engine records the reason and retries or dead-letters.

    ``permanent`` failures (bad input that no retry can fix) dead-letter at once.
    """

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class StepContext:
    item_id: int
    input: dict
    definition: dict
    # Outputs of the steps that already succeeded, by step name.
    previous: dict[str, dict] = field(default_factory=dict)
