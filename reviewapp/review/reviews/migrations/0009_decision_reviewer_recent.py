"""A reviewer's own decisions, newest first: My work counts today's and Undo reads the last one
without sorting every decision the reviewer ever made."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0008_queue_kind"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(
                fields=["reviewer", "-decided_at"], name="decision_reviewer_recent_idx"
            ),
        ),
    ]
