"""S3-compatible object storage for releases and model artefacts (``REVIEWAPP_STORAGE=s3``).

A module of its own so that only processes configured for it import boto3.
"""

from typing import IO, Any

from storages.backends.s3 import S3Storage
from storages.utils import clean_name

BLOCK = 1 << 20


class ObjectStorage(S3Storage):
    """S3-compatible object storage (AWS S3, MinIO, Ceph, R2, ...) through django-storages.

    Saves are boto3's managed uploads: multipart, read from the file in parts, so memory stays
    flat whatever the size. Reads through ``open`` spill to a temporary file past
    ``max_memory_size`` (django-storages keeps everything in memory by default).
    """

    def __init__(self, **options: Any) -> None:
        options.setdefault("max_memory_size", 8 * BLOCK)
        options.setdefault("file_overwrite", True)
        # Signature version 4 everywhere: AWS refuses the old one in new regions, and presigned
        # URLs then carry their lifetime (X-Amz-Expires).
        options.setdefault("signature_version", "s3v4")
        super().__init__(**options)

    def open_stream(self, name: str) -> IO[bytes]:
        """The object's body as one GET, read as it arrives (no temporary copy): downloads."""
        key = self._normalize_name(clean_name(name))
        return self.bucket.Object(key).get()["Body"]
