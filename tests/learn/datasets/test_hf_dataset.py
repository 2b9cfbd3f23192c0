"""The Hugging Face datasets folder: a JSONL file per split, a dataset card, a manifest, zipped."""

import hashlib
import json
import zipfile

import yaml

from reviewapp.learn.datasets.specs import split_for
from tests.support.files import export_path


def test_the_zip_holds_split_files_a_card_and_the_manifest(release, corrected):
    export = release(export_format="hf_dataset", note="fine-tune the triage model")

    with zipfile.ZipFile(export_path(export)) as archive:
        names = archive.namelist()
        assert names[:2] == ["README.md", "manifest.json"]
        readme = archive.read("README.md").decode()
        manifest = json.loads(archive.read("manifest.json"))
        files = {name: archive.read(name) for name in names if name.startswith("data/")}

    expected = {split_for(c.input) for c in corrected}
    assert set(files) == {f"data/{split}.jsonl" for split in expected}
    loaded = {
        name: [json.loads(line) for line in content.decode().splitlines()]
        for name, content in files.items()
    }
    assert sum(len(rows) for rows in loaded.values()) == len(corrected)
    for name, rows in loaded.items():
        assert {row["split"] for row in rows} == {name.removeprefix("data/").removesuffix(".jsonl")}
    # The README's front matter is what `datasets.load_dataset` reads to find the splits.
    front = yaml.safe_load(readme.split("---\n")[1])
    declared = {f["split"]: f["path"] for f in front["configs"][0]["data_files"]}
    assert set(declared.values()) == set(files)
    assert "fine-tune the triage model" in readme
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        name: hashlib.sha256(content).hexdigest() for name, content in files.items()
    }
    assert export.sha256 == hashlib.sha256(export_path(export).read_bytes()).hexdigest()


def test_the_zip_downloads_as_a_stream(api, requester, release, corrected):
    export = release(export_format="hf_dataset")

    response = api(requester).get(f"/api/v1/exports/{export.pk}/download")

    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == export_path(export).read_bytes()
    assert response["Content-Disposition"].startswith(
        'attachment; filename="ticket-triage-v1-verified-hf-dataset.zip"'
    )
