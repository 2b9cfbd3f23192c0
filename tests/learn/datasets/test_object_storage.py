"""Releases in S3-compatible object storage (moto's server in a process of its own): built into
the bucket with the same bytes as on local disk, handed out through the app or by a presigned
URL, always after the permission check and with the download audited."""

import hashlib
import json
import urllib.request

import pytest

from reviewapp.core.audit.models import AuditEvent

EXPORTS = "/api/v1/exports/"
RELEASE = "datasets/ticket-triage/v1/"


@pytest.fixture
def in_bucket(object_storage, s3_server, release, corrected):
    """Release v1 of the corrections (JSONL), built into this test's bucket."""
    return release(note="retrain triage on Q4 corrections")


def downloads(export) -> int:
    return AuditEvent.objects.filter(action="export.downloaded", object_id=str(export.pk)).count()


@pytest.mark.parametrize("export_format", ["jsonl", "parquet"])
def test_a_release_is_built_into_the_bucket_with_the_bytes_a_local_build_has(
    object_storage, s3_server, release, corrected, settings, media_root, export_format
):
    export = release(export_format=export_format)
    stored = s3_server.objects(object_storage)
    name = f"data.{export_format}"
    assert sorted(key for key in stored if key.startswith("datasets/")) == sorted(
        RELEASE + file
        for file in (name, "manifest.json", "DATACARD.md", "rows.tsv", "audit-heads.json")
    )
    data = stored[RELEASE + name]
    assert hashlib.sha256(data).hexdigest() == export.sha256 == export.manifest["sha256"]
    assert export.size_bytes == len(data)
    assert json.loads(stored[RELEASE + "manifest.json"]) == export.manifest
    assert not (media_root / "datasets").exists(), "nothing is written to the local folder"

    # The same rows built again on local disk (release v2): the data file is byte for byte equal.
    settings.STORAGES = settings.STORAGES | {
        "exports": {"BACKEND": "reviewapp.core.files.LocalStorage"}
    }
    local = release(export_format=export_format)
    assert (media_root / "datasets/ticket-triage/v2" / name).read_bytes() == data
    assert local.sha256 == export.sha256


def test_the_app_streams_the_release_from_the_bucket_and_audits_it(
    in_bucket, s3_server, object_storage, api, requester, client
):
    data = s3_server.objects(object_storage)[RELEASE + "data.jsonl"]

    response = api(requester).get(f"{EXPORTS}{in_bucket.pk}/download")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(data))
    assert (
        'attachment; filename="ticket-triage-v1-verified.jsonl"' in response["Content-Disposition"]
    )
    assert b"".join(response.streaming_content) == data

    client.force_login(requester)
    page = client.get(f"/datasets/{in_bucket.pk}/download")
    assert page.status_code == 200
    assert b"".join(page.streaming_content) == data
    assert downloads(in_bucket) == 2


def test_a_presigned_download_is_a_short_lived_link_and_still_audited(
    in_bucket, s3_server, object_storage, api, requester, outsider, settings
):
    settings.REVIEWAPP_PRESIGNED_DOWNLOADS = True
    settings.REVIEWAPP_PRESIGNED_DOWNLOAD_SECONDS = 120

    refused = api(outsider).get(f"{EXPORTS}{in_bucket.pk}/download")
    assert refused.status_code == 404 and "Location" not in refused
    assert downloads(in_bucket) == 0

    response = api(requester).get(f"{EXPORTS}{in_bucket.pk}/download")
    assert response.status_code == 302
    link = response["Location"]
    assert link.startswith(f"{s3_server.url}/{object_storage}/{RELEASE}data.jsonl?")
    assert "X-Amz-Expires=120" in link and "X-Amz-Signature=" in link
    assert downloads(in_bucket) == 1
    with urllib.request.urlopen(link, timeout=10) as fetched:  # noqa: S310 - our moto server
        assert (
            fetched.headers["Content-Disposition"]
            == 'attachment; filename="ticket-triage-v1-verified.jsonl"'
        )
        assert hashlib.sha256(fetched.read()).hexdigest() == in_bucket.sha256
