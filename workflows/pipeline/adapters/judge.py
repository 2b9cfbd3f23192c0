"""An LLM judge behind an OpenAI-compatible chat-completions endpoint.

The judge reads the item's input and the model's output through a versioned prompt template
(``{field}`` placeholders take input fields; ``{model_output}`` is the output as JSON and
``{rubric}`` the rubric's questions) and answers a JSON object with a score and a rationale per
rubric item: ``{"<rubric item>": {"score": 4, "rationale": "..."}}``. An answer that misses a
rubric item or scores outside its scale is unusable, like any broken model answer.
"""

import json
import time
from dataclasses import dataclass, field

from workflows.pipeline.adapters.base import ModelError
from workflows.pipeline.adapters.openai_compat import ChatEndpoint, render_prompt


@dataclass(frozen=True)
class RubricScore:
    score: int
    rationale: str
    passed: bool


@dataclass(frozen=True)
class JudgeAnswer:
    scores: dict[str, RubricScore]
    cost: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0


def rubric_text(rubric: list[dict]) -> str:
    return "\n".join(
        f"- {entry['name']}: {entry['question']} (score {entry['scale'][0]} to {entry['scale'][1]})"
        for entry in rubric
    )


class JudgeAdapter(ChatEndpoint):
    def score(self, *, item_input: dict, output: dict, rubric: list[dict]) -> JudgeAnswer:
        """Scores of ``output`` on every rubric item, or ``ModelError``."""
        values = item_input | {
            "model_output": json.dumps(output, sort_keys=True),
            "rubric": rubric_text(rubric),
        }
        messages = []
        if self.prompt.system:
            messages.append(
                {"role": "system", "content": render_prompt(self.prompt.system, values)}
            )
        messages.append({"role": "user", "content": render_prompt(self.prompt.user, values)})
        started = time.perf_counter()
        _, answer, usage = self.chat(messages)
        latency_ms = (time.perf_counter() - started) * 1000
        scores = {entry["name"]: _rubric_score(answer, entry) for entry in rubric}
        return JudgeAnswer(
            scores=scores,
            cost=usage["cost"],
            tokens=usage["tokens"],
            latency_ms=round(latency_ms, 3),
        )


def _rubric_score(answer: object, entry: dict) -> RubricScore:
    name = entry["name"]
    given = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(given, dict):
        raise ModelError(f"the judge did not score {name!r}")
    score = given.get("score")
    low, high = entry["scale"]
    # bool is an int in Python: a judge answering true is not scoring.
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise ModelError(f"the judge scored {name!r} {score!r}, not a whole number {low}-{high}")
    rationale = given.get("rationale", "")
    return RubricScore(
        score=score,
        rationale=str(rationale)[:2000] if isinstance(rationale, str) else "",
        passed=score >= entry["pass_at"],
    )
