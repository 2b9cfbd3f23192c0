"""An LLM judge behind an OpenAI-compatible chat-completions endpoint.

The judge reads the item's input and the model's output through a versioned prompt template
(``{field}`` placeholders take input fields; ``{model_output}`` is the output as JSON and
``{rubric}`` the rubric's questions) and answers a JSON object with a score and a rationale per
rubric item: ``{"<rubric item>": {"score": 4, "rationale": "..."}}``. An answer that misses a
rubric item or scores outside its scale is unusable, like any broken model answer.
"""

import json
import os
import time
from dataclasses import dataclass, field

import httpx

from workflows.models import ModelVersion, PromptTemplate
from workflows.pipeline.adapters.base import ModelError
from workflows.pipeline.adapters.openai_compat import render_prompt


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


class JudgeAdapter:
    def __init__(self, model_version: ModelVersion, *, client: httpx.Client | None = None):
        config = model_version.config
        self.endpoint_key = config["base_url"].rstrip("/")
        self.model = config["model"]
        self.prices = (
            float(config.get("price_in_per_1k", 0)),
            float(config.get("price_out_per_1k", 0)),
        )
        api_key = os.environ.get(config.get("api_key_env", ""), "")
        self.prompt = PromptTemplate.objects.get(
            name=config["prompt"]["name"], version=config["prompt"]["version"]
        )
        self.prompt_version = str(self.prompt)
        self.client = client or httpx.Client(
            base_url=self.endpoint_key,
            timeout=float(config.get("timeout_s", 20)),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        )

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
        try:
            response = self.client.post(
                "/chat/completions",
                json={
                    "model": self.model,
                    "messages": messages,
                    "temperature": 0,
                    "response_format": {"type": "json_object"},
                },
            )
        except httpx.HTTPError as exc:
            raise ModelError(f"{type(exc).__name__} calling {self.endpoint_key}: {exc}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise ModelError(f"{self.endpoint_key} answered HTTP {response.status_code}")
        try:
            body = response.json()
            answer = json.loads(body["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"unusable answer from {self.endpoint_key}: {exc}") from exc
        scores = {entry["name"]: _rubric_score(answer, entry) for entry in rubric}
        usage = body.get("usage") or {}
        tokens = {
            "prompt": int(usage.get("prompt_tokens", 0)),
            "completion": int(usage.get("completion_tokens", 0)),
        }
        cost = (tokens["prompt"] * self.prices[0] + tokens["completion"] * self.prices[1]) / 1000
        return JudgeAnswer(
            scores=scores, cost=round(cost, 8), tokens=tokens, latency_ms=round(latency_ms, 3)
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
