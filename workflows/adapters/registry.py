from workflows.adapters.base import ModelAdapter
from workflows.adapters.builtin import SklearnAdapter
from workflows.models import ModelVersion


def adapter_for(*, name: str, version: str) -> tuple[ModelAdapter, ModelVersion]:
    model_version = ModelVersion.objects.get(name=name, version=version)
    if model_version.adapter == "sklearn":
        return SklearnAdapter(artefact=model_version.artefact, sha256=model_version.sha256), (
            model_version
        )
    raise ValueError(f"unknown model adapter {model_version.adapter!r}")
