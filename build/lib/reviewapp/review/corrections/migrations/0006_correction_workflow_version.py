"""Corrections keep their item's workflow version, and reach its four-eyes review directly.

Dataset exports read both for every row; going through the item cost a join of every
correction to its item (a tenth of a JSONL export's query). Existing corrections get the version
of their item.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_workflow_version(apps, schema_editor):
    Correction = apps.get_model("corrections", "Correction")
    Item = apps.get_model("workflows", "Item")
    version = Item.objects.filter(pk=OuterRef("item_id")).values("workflow_version_id")
    Correction.objects.filter(workflow_version__isnull=True).update(
        workflow_version_id=Subquery(version)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("corrections", "0005_correction_input_hash"),
        ("quality", "0001_four_eyes_and_gold"),
        ("workflows", "0008_trainingrun_heartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="correction",
            name="four_eyes",
            field=models.ForeignObject(
                from_fields=["item"],
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="quality.foureyesreview",
                to_fields=["item"],
            ),
        ),
        migrations.AddField(
            model_name="correction",
            name="workflow_version",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="workflows.workflowversion",
            ),
        ),
        migrations.RunPython(fill_workflow_version, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="correction",
            name="workflow_version",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="workflows.workflowversion",
            ),
        ),
    ]
