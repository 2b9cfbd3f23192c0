"""Which model version serves an item: the workflow's binding, or a running canary's
candidate for its share of items (a stable draw per item, so a redelivered item keeps its arm)."""

import hashlib

from workflows.models import (
    Canary,
    CanaryStatus,
    ModelVersion,
)


def _draw(item_key: str) -> float:
    digest = hashlib.sha256(f"canary:{item_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def model_for_item(*, workflow_id: int, binding: dict, item_key: str) -> ModelVersion:
    """The model version that serves this item: the definition's, unless a canary says not."""
    (model_version,) = models_for_items(
        workflow_id=workflow_id, binding=binding, item_keys=[item_key]
    )
    return model_version


def models_for_items(
    *, workflow_id: int, binding: dict, item_keys: list[str]
) -> list[ModelVersion]:
    """``model_for_item`` for a batch of items of one workflow, with one lookup for all."""
    canary = (
        Canary.objects.filter(
            workflow_id=workflow_id, status__in=[CanaryStatus.RUNNING, CanaryStatus.PROMOTED]
        )
        .select_related("stable", "candidate")
        .first()
    )
    if canary is not None and (canary.stable.name, canary.stable.version) == (
        binding["name"],
        binding["version"],
    ):
        if canary.status == CanaryStatus.PROMOTED:
            return [canary.candidate] * len(item_keys)
        share = canary.percent / 100
        return [canary.candidate if _draw(key) < share else canary.stable for key in item_keys]
    model_version = ModelVersion.objects.get(name=binding["name"], version=binding["version"])
    return [model_version] * len(item_keys)
