"""The ``STORAGES`` entries of releases and model artefacts, from the environment (README,
"Storage"). Only names of backends here: boto3 is imported by the processes that use it."""

from django.core.exceptions import ImproperlyConfigured

from reviewapp.core.env import env_str


def file_storages(*, presigned: bool, presigned_seconds: int) -> dict:
    """Where dataset releases ("exports") and model artefacts ("models") live (README, "Storage").

    ``local``: folders under MEDIA_ROOT, which web and workers must then share. ``s3``: one bucket
    of an S3-compatible object store; credentials from S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY
    (or *_FILE), else boto3's own chain (instance roles, AWS_* variables).
    """
    kind = env_str("REVIEWAPP_STORAGE", "local")
    if kind == "local":
        if presigned:
            raise ImproperlyConfigured(
                "REVIEWAPP_PRESIGNED_DOWNLOADS=true needs REVIEWAPP_STORAGE=s3."
            )
        backend = {"BACKEND": "reviewapp.core.files.LocalStorage"}
        return {"exports": backend, "models": backend}
    if kind != "s3":
        raise ImproperlyConfigured(f"REVIEWAPP_STORAGE={kind!r}: use local or s3.")
    addressing = env_str("S3_ADDRESSING_STYLE", "auto")
    if addressing not in ("auto", "path", "virtual"):
        raise ImproperlyConfigured(
            f"S3_ADDRESSING_STYLE={addressing!r}: use auto, path or virtual."
        )
    options = {
        "bucket_name": env_str("S3_BUCKET"),
        "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
        "region_name": env_str("S3_REGION", "") or None,
        "access_key": env_str("S3_ACCESS_KEY_ID", "") or None,
        "secret_key": env_str("S3_SECRET_ACCESS_KEY", "") or None,
        "addressing_style": None if addressing == "auto" else addressing,
        "location": env_str("S3_PREFIX", "").strip("/"),
        "querystring_expire": presigned_seconds,
        "default_acl": None,  # the bucket's policy decides; objects are never public
    }
    s3: dict[str, object] = {
        "BACKEND": "reviewapp.core.object_storage.ObjectStorage",
        "OPTIONS": options,
    }
    return {"exports": s3, "models": s3}
