import io

import pytest
from django.core.exceptions import ImproperlyConfigured

from reviewapp.core.files import LocalStorage, file_put
from reviewapp.core.storage_settings import file_storages


def test_local_folders_are_the_default(monkeypatch):
    monkeypatch.delenv("REVIEWAPP_STORAGE", raising=False)
    storages = file_storages(presigned=False, presigned_seconds=300)
    assert (
        storages["exports"]
        == storages["models"]
        == {"BACKEND": "reviewapp.core.files.LocalStorage"}
    )
    with pytest.raises(ImproperlyConfigured, match="needs REVIEWAPP_STORAGE=s3"):
        file_storages(presigned=True, presigned_seconds=300)


def test_object_storage_is_configured_from_the_environment(monkeypatch):
    monkeypatch.setenv("REVIEWAPP_STORAGE", "s3")
    monkeypatch.delenv("S3_BUCKET", raising=False)
    with pytest.raises(ImproperlyConfigured, match="S3_BUCKET is required"):
        file_storages(presigned=False, presigned_seconds=300)
    monkeypatch.setenv("S3_BUCKET", "releases")
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("S3_PREFIX", "/reviewapp/")
    monkeypatch.setenv("S3_ADDRESSING_STYLE", "path")
    options = file_storages(presigned=True, presigned_seconds=120)["exports"]["OPTIONS"]
    assert options["bucket_name"] == "releases"
    assert options["endpoint_url"] == "http://minio:9000"
    assert options["location"] == "reviewapp"
    assert options["addressing_style"] == "path"
    assert options["querystring_expire"] == 120
    monkeypatch.setenv("S3_ADDRESSING_STYLE", "sideways")
    with pytest.raises(ImproperlyConfigured, match="use auto, path or virtual"):
        file_storages(presigned=False, presigned_seconds=300)
    monkeypatch.setenv("REVIEWAPP_STORAGE", "gcs")
    with pytest.raises(ImproperlyConfigured, match="use local or s3"):
        file_storages(presigned=False, presigned_seconds=300)


def test_a_local_file_is_replaced_whole_under_its_own_name(tmp_path):
    storage = LocalStorage(location=tmp_path)
    file_put(storage, "datasets/wf/v1/data.jsonl", io.BytesIO(b"first\n"))
    file_put(storage, "datasets/wf/v1/data.jsonl", io.BytesIO(b"second\n"))

    assert (tmp_path / "datasets/wf/v1/data.jsonl").read_bytes() == b"second\n"
    assert [path.name for path in (tmp_path / "datasets/wf/v1").iterdir()] == ["data.jsonl"]
    assert oct((tmp_path / "datasets/wf/v1/data.jsonl").stat().st_mode & 0o777) == "0o644"
