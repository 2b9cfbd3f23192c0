"""The built-in model: a scikit-learn text classifier persisted with skops.

Artefacts are loaded with skops, never pickle, after checking their SHA-256 against the
ModelVersion row and refusing any type outside a short allow-list: a tampered file cannot run
code on the worker.
"""

import hashlib
import io
from functools import lru_cache

from reviewapp.core.files import file_put, file_stream, models_storage, stored_sha256
from workflows.pipeline.adapters.base import ModelError, ModelInput, ModelOutput

# Types a built-in model file may contain beyond what skops trusts by default.
TRUSTED_TYPES = {
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.frozen._frozen.FrozenEstimator",
    "builtins.dict",
    "builtins.str",
    "builtins.list",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "re.compile",
}


class ModelArtefactError(ModelError):
    pass


# Artefacts live in the ``models`` storage (local folder or object store, reviewapp.core.files)
# under names like ``models/<team>/<name>-<version>.skops``; they are a few MB and read whole.


def artefact_exists(name: str) -> bool:
    return models_storage().exists(name)


def artefact_save(name: str, data: bytes) -> None:
    file_put(models_storage(), name, io.BytesIO(data))


def artefact_sha256(name: str) -> str:
    return stored_sha256(models_storage(), name)


def _read(name: str) -> bytes:
    storage = models_storage()
    if not storage.exists(name):
        raise ModelArtefactError(f"model artefact {name} is missing")
    with file_stream(storage, name) as handle:
        return handle.read()


@lru_cache(maxsize=8)
def _load(name: str, sha256: str):
    from skops import io as skops_io  # heavy import (scikit-learn, SciPy), only needed here

    data = _read(name)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelArtefactError(f"model artefact {name} does not match its recorded checksum")
    needed = set(skops_io.get_untrusted_types(data=data))
    if needed - TRUSTED_TYPES:
        raise ModelArtefactError(
            f"model artefact {name} holds untrusted types: {sorted(needed - TRUSTED_TYPES)}"
        )
    return skops_io.loads(data, trusted=sorted(needed))


class SklearnAdapter:
    def __init__(self, *, artefact: str, sha256: str, endpoint_key: str = "builtin"):
        self.endpoint_key = endpoint_key
        self.model = _load(artefact, sha256)

    def predict(self, batch: list[ModelInput]) -> list[ModelOutput]:
        import numpy as np

        probabilities = self.model.predict_proba([entry.text for entry in batch])
        classes = [str(label) for label in self.model.classes_]
        results = []
        for row in np.asarray(probabilities):
            best = int(row.argmax())
            results.append(
                ModelOutput(
                    output={"label": classes[best]},
                    confidence=round(float(row[best]), 6),
                    # The label is the only field: its class probability is its confidence.
                    field_confidence={"label": round(float(row[best]), 6)},
                    probabilities={
                        label: round(float(p), 6) for label, p in zip(classes, row, strict=True)
                    },
                )
            )
        return results
