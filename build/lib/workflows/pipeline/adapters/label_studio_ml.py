"""A Label Studio ML backend, through its ``/predict`` protocol (batched)."""

import httpx

from workflows.models import ModelVersion
from workflows.pipeline.adapters.base import ModelError, ModelInput, ModelOutput


class LabelStudioMLAdapter:
    def __init__(self, model_version: ModelVersion, *, client: httpx.Client | None = None):
        config = model_version.config
        self.endpoint_key = config["base_url"].rstrip("/")
        self.label_config = config.get("label_config", "")
        self.client = client or httpx.Client(
            base_url=self.endpoint_key, timeout=float(config.get("timeout_s", 20))
        )

    def predict(self, batch: list[ModelInput]) -> list[ModelOutput]:
        try:
            response = self.client.post(
                "/predict",
                json={
                    "tasks": [
                        {"id": index, "data": entry.input | {"text": entry.text}}
                        for index, entry in enumerate(batch)
                    ],
                    "label_config": self.label_config,
                },
            )
        except httpx.HTTPError as exc:
            raise ModelError(f"{type(exc).__name__} calling {self.endpoint_key}: {exc}") from exc
        if response.status_code != 200:
            raise ModelError(f"{self.endpoint_key} answered HTTP {response.status_code}")
        try:
            results = response.json()["results"]
            outputs = [_output(result) for result in results]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"unusable answer from {self.endpoint_key}: {exc}") from exc
        if len(outputs) != len(batch):
            raise ModelError(f"{self.endpoint_key} answered {len(outputs)} of {len(batch)} tasks")
        return outputs


def _output(result: dict) -> ModelOutput:
    """Choices regions become ``{from_name: choice}``; the task score is the confidence."""
    output = {}
    field_confidence = {}
    for region in result["result"]:
        if region["type"] != "choices":
            continue
        output[region["from_name"]] = region["value"]["choices"][0]
        if "score" in region:
            field_confidence[region["from_name"]] = float(region["score"])
    score = float(result.get("score", min(field_confidence.values(), default=0.0)))
    return ModelOutput(output=output, confidence=round(score, 6), field_confidence=field_confidence)
