"""Multi-format releases (a file per format) and the human-verified default.

Acceptances are now recorded as labeled data and a spec without a ``decision`` means
"human-verified". Stored specs without one meant every correction and rejection: they are given
``correct_or_reject``, which still means that, so a stored export's filters say what it holds.
Built exports get their one file as a ``ReleaseFile``. Both steps reverse.
"""

import re

import django.db.models.deletion
from django.db import migrations, models

EXTENSIONS = {
    "jsonl": "jsonl",
    "csv": "csv",
    "parquet": "parquet",
    "label_studio": "json",
    "hf_dataset": "zip",
    "preference_jsonl": "jsonl",
}
NAMES = {  # as naming.EXTENSIONS, frozen here
    "jsonl": ".jsonl",
    "csv": ".csv",
    "parquet": ".parquet",
    "label_studio": "-label-studio.json",
    "hf_dataset": "-hf-dataset.zip",
    "preference_jsonl": ".jsonl",
}
KINDS = {
    "correct": "corrections",
    "reject": "rejections",
    "correct_or_reject": "corrections-rejections",
}


def _stored_path(export):
    if export.release_version is None:
        return f"exports/export-{export.pk}.{EXTENSIONS[export.format]}"
    name = "dataset.zip" if export.format == "hf_dataset" else f"data.{EXTENSIONS[export.format]}"
    return f"datasets/{export.workflow.slug}/v{export.release_version}/{name}"


def _download_name(export):
    kind = (
        "preferences"
        if export.format == "preference_jsonl"
        else KINDS.get(export.filters.get("decision", ""), "corrections")
    )
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", export.workflow.slug).strip("-.") or "dataset"
    release = f"v{export.release_version}" if export.release_version else f"export-{export.pk}"
    return f"{slug}-{release}-{kind}{NAMES[export.format]}"


def forwards(apps, schema_editor):
    DatasetExport = apps.get_model("datasets", "DatasetExport")
    ReleaseFile = apps.get_model("datasets", "ReleaseFile")
    for export in DatasetExport.objects.select_related("workflow").iterator(chunk_size=500):
        export.formats = [export.format]
        if export.format != "preference_jsonl" and "decision" not in export.filters:
            export.filters = {**export.filters, "decision": "correct_or_reject"}
        export.save(update_fields=["formats", "filters"])
        if export.status in ("ready", "expired") and export.file_name:
            ReleaseFile.objects.create(
                export=export,
                format=export.format,
                path=_stored_path(export),
                download_name=_download_name(export),
                sha256=export.sha256,
                size_bytes=export.size_bytes or 0,
            )


def backwards(apps, schema_editor):
    DatasetExport = apps.get_model("datasets", "DatasetExport")
    for export in DatasetExport.objects.filter(filters__decision="correct_or_reject").iterator():
        export.filters = {k: v for k, v in export.filters.items() if k != "decision"}
        export.save(update_fields=["filters"])


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0005_preference_format"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetexport",
            name="corrections_upto",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="datasetexport",
            name="diff",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="datasetexport",
            name="formats",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="ReleaseFile",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "format",
                    models.CharField(
                        choices=[
                            ("jsonl", "JSON Lines"),
                            ("csv", "CSV (spreadsheet-safe)"),
                            ("parquet", "Parquet"),
                            ("label_studio", "Label Studio tasks (JSON)"),
                            ("hf_dataset", "Hugging Face dataset folder (zip)"),
                            (
                                "preference_jsonl",
                                "Preference pairs from pairwise review (JSON Lines)",
                            ),
                        ],
                        max_length=20,
                    ),
                ),
                ("path", models.CharField(max_length=500)),
                ("download_name", models.CharField(max_length=255)),
                ("sha256", models.CharField(max_length=64)),
                ("size_bytes", models.PositiveBigIntegerField()),
                (
                    "export",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="files",
                        to="datasets.datasetexport",
                    ),
                ),
            ],
            options={
                "ordering": ["export", "id"],
                "constraints": [
                    models.UniqueConstraint(fields=("export", "format"), name="release_file_unique")
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
