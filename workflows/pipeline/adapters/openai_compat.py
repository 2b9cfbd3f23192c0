"""An OpenAI-compatible chat-completions endpoint (a managed API or a self-hosted server).

The prompt asks for a JSON object; the answer is parsed (schema checks happen in the infer
step), its confidence is the probability of the answer's tokens when the endpoint returns
logprobs, and token counts become a cost from the configured prices.
"""

import dataclasses
import json
import math
import os
import re
import time

import httpx

from workflows.models import ModelVersion, PromptTemplate
from workflows.pipeline.adapters.base import ModelError, ModelInput, ModelOutput

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_prompt(template: str, item_input: dict) -> str:
    """``{field}`` placeholders take input fields. Nothing else is interpreted: no attribute
    access, no format specs, and other braces (JSON examples in the prompt) stay as written."""

    def value(match: re.Match) -> str:
        found = item_input.get(match.group(1), "")
        return str(found) if isinstance(found, str | int | float) else ""

    return PLACEHOLDER.sub(value, template)


class ChatEndpoint:
    """An OpenAI-compatible chat-completions endpoint with its prompt template and prices: what
    the model adapter and the judge adapter share."""

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

    def chat(self, messages: list[dict], *, logprobs: bool = False) -> tuple[dict, object, dict]:
        """One completion asking for a JSON object: the choice, its parsed answer, and the usage
        (``tokens`` and ``cost``); ``ModelError`` when the endpoint fails or answers no JSON."""
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        if logprobs:
            payload["logprobs"] = True
        try:
            response = self.client.post("/chat/completions", json=payload)
        except httpx.HTTPError as exc:
            raise ModelError(f"{type(exc).__name__} calling {self.endpoint_key}: {exc}") from exc
        if response.status_code != 200:
            raise ModelError(f"{self.endpoint_key} answered HTTP {response.status_code}")
        try:
            body = response.json()
            choice = body["choices"][0]
            answer = json.loads(choice["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"unusable answer from {self.endpoint_key}: {exc}") from exc
        usage = body.get("usage") or {}
        tokens = {
            "prompt": int(usage.get("prompt_tokens", 0)),
            "completion": int(usage.get("completion_tokens", 0)),
        }
        cost = (tokens["prompt"] * self.prices[0] + tokens["completion"] * self.prices[1]) / 1000
        return choice, answer, {"tokens": tokens, "cost": round(cost, 8)}


class OpenAICompatAdapter(ChatEndpoint):
    def predict(self, batch: list[ModelInput]) -> list[ModelOutput]:
        # Chat completions take one conversation per call.
        return [self._one(entry) for entry in batch]

    def predict_each(self, batch: list[ModelInput]) -> list[ModelOutput | ModelError]:
        """Per-input calls, so a bad answer fails its own item and not the rest of the batch."""
        results: list[ModelOutput | ModelError] = []
        for entry in batch:
            started = time.perf_counter()
            try:
                output = self._one(entry)
            except ModelError as exc:
                results.append(exc)
                continue
            latency_ms = (time.perf_counter() - started) * 1000
            results.append(dataclasses.replace(output, latency_ms=latency_ms))
        return results

    def _one(self, entry: ModelInput) -> ModelOutput:
        messages = []
        if self.prompt.system:
            messages.append({"role": "system", "content": self.prompt.system})
        messages.append({"role": "user", "content": render_prompt(self.prompt.user, entry.input)})
        choice, output, usage = self.chat(messages, logprobs=True)
        if not isinstance(output, dict):
            raise ModelError(f"{self.endpoint_key} answered {type(output).__name__}, not an object")
        return ModelOutput(
            output=output,
            confidence=_answer_probability(choice.get("logprobs")),
            cost=usage["cost"],
            tokens=usage["tokens"],
        )


def _answer_probability(logprobs: dict | None) -> float:
    """The probability of the whole answer: the product of its tokens' probabilities.

    Without logprobs there is no honest confidence; 0 sends the item to a reviewer.
    """
    content = (logprobs or {}).get("content") or []
    if not content:
        return 0.0
    return round(math.exp(sum(float(token["logprob"]) for token in content)), 6)
