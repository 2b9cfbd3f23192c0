"""Corrections carry the SHA-256 of their input's canonical JSON (``canonical_hash``).

Existing corrections get it from their stored input, in batches so a large table does not
need all its inputs in memory at once.
"""

import hashlib
import json

from django.db import migrations, models

BATCH = 2000


def _canonical_hash(value) -> str:
    # Frozen copy of reviewapp.review.corrections.services.canonical_hash: a migration must keep
    # computing what it computed when it was written.
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def fill_input_hash(apps, schema_editor):
    Correction = apps.get_model("corrections", "Correction")
    pending = Correction.objects.filter(input_hash="").only("pk", "input").order_by("pk")
    last = 0
    while batch := list(pending.filter(pk__gt=last)[:BATCH]):
        for correction in batch:
            correction.input_hash = _canonical_hash(correction.input)
        Correction.objects.bulk_update(batch, ["input_hash"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("corrections", "0004_correction_source")]

    operations = [
        migrations.AddField(
            model_name="correction",
            name="input_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(fill_input_hash, migrations.RunPython.noop),
    ]
