"""Where the local storages (the default, ``reviewapp.core.files.LocalStorage``) keep a release's
files and model artefacts, for tests that look at the bytes on disk."""

from pathlib import Path

from reviewapp.core.files import exports_storage, models_storage
from reviewapp.learn.datasets import services


def export_path(export) -> Path:
    return Path(exports_storage().path(services.export_name(export)))


def release_dir(export) -> Path:
    return Path(exports_storage().path(services.release_dir(export)))


def artefact_path(name: str) -> Path:
    path = Path(models_storage().path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
