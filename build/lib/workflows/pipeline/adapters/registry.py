from workflows.models import ModelAdapterKind, ModelVersion
from workflows.pipeline.adapters.base import ModelAdapter


def adapter_for(model_version: ModelVersion) -> ModelAdapter:
    if model_version.adapter == ModelAdapterKind.SKLEARN:
        from workflows.pipeline.adapters.builtin import SklearnAdapter

        return SklearnAdapter(
            artefact=model_version.artefact,
            sha256=model_version.sha256,
            endpoint_key=f"builtin:{model_version}",
        )
    if model_version.adapter == ModelAdapterKind.OPENAI:
        from workflows.pipeline.adapters.openai_compat import OpenAICompatAdapter

        return OpenAICompatAdapter(model_version)
    if model_version.adapter == ModelAdapterKind.LABEL_STUDIO_ML:
        from workflows.pipeline.adapters.label_studio_ml import LabelStudioMLAdapter

        return LabelStudioMLAdapter(model_version)
    raise ValueError(f"unknown model adapter {model_version.adapter!r}")
