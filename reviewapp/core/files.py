"""Files that outlive a process: dataset releases and model artefacts, through Django's storage API.

Two named storages (``settings.STORAGES``): ``exports`` (dataset releases) and ``models`` (the
built-in model's artefacts). Local folders under ``MEDIA_ROOT`` by default; S3-compatible object
storage in production (README, "Storage"), so web and workers share no disk. Names are the same
in both: ``datasets/<workflow>/v<N>/data.jsonl``, ``models/<team>/<name>.skops``.
"""

import hashlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

EXPORTS = "exports"
MODELS = "models"
BLOCK = 1 << 20


def exports_storage() -> Storage:
    return storages[EXPORTS]


def models_storage() -> Storage:
    return storages[MODELS]


class LocalStorage(FileSystemStorage):
    """A folder (``MEDIA_ROOT`` unless ``location`` is given) whose files are replaced whole.

    Release and artefact names are fixed, so a save overwrites; the bytes go to a hidden file
    beside the target and are renamed over it, so a reader never sees half a file.
    """

    def __init__(self, **options: Any) -> None:
        options.setdefault("allow_overwrite", True)
        super().__init__(**options)

    def _save(self, name: str, content: File) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=directory, prefix=".partial-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                content.seek(0)
                for chunk in content.chunks(BLOCK):
                    handle.write(chunk)
            os.chmod(partial, self.file_permissions_mode or 0o644)
            os.replace(partial, full_path)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        return str(name).replace("\\", "/")

    def open_stream(self, name: str) -> IO[bytes]:
        return self.open(name, "rb")


def file_stream(storage: Storage, name: str) -> IO[bytes]:
    """A readable binary file of ``name``, streamed where the backend can."""
    opener = getattr(storage, "open_stream", None)
    return opener(name) if opener is not None else storage.open(name, "rb")


def file_presigned_url(storage: Storage, name: str, *, download_as: str, seconds: int) -> str:
    """A short-lived URL that hands out ``name`` without the app (object storage only)."""
    # Only object storage signs URLs (the settings refuse presigned downloads without it).
    disposition = f'attachment; filename="{download_as}"'
    sign: Any = storage.url  # S3Storage.url takes the response headers and a lifetime
    return sign(name, parameters={"ResponseContentDisposition": disposition}, expire=seconds)


def file_blocks(handle: IO[bytes]) -> Iterator[bytes]:
    yield from iter(lambda: handle.read(BLOCK), b"")


def stored_sha256(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with file_stream(storage, name) as handle:
        for block in file_blocks(handle):
            digest.update(block)
    return digest.hexdigest()


def file_put(storage: Storage, name: str, handle: IO[bytes]) -> None:
    """Store ``handle``'s bytes as ``name``, replacing what was there."""
    saved = storage.save(name, File(handle, name=os.path.basename(name)))
    # A backend that picks another name would break the fixed release and artefact names.
    assert saved == name, f"the storage saved {name} as {saved}"
