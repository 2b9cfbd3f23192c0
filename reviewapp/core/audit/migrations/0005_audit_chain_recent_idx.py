from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_shard_take"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["chain", "-occurred_at", "-id"], name="audit_chain_recent_idx"
            ),
        ),
    ]
