"""Indexes for the audit page's keyset pages: per chain, and per chain by person or action.

The action index compares bytes (collation "C") on PostgreSQL, so "action starts with" is a
range of it whatever the database's collation; SQLite (the quick start) has no collation "C"
and compares bytes already, so it gets the plain columns.
"""

from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Collate

ACTION_INDEX = models.Index(
    Collate("action", "C"),
    "chain",
    F("occurred_at").desc(),
    F("id").desc(),
    name="audit_action_recent_idx",
)
PLAIN_ACTION_INDEX = models.Index(
    fields=["action", "chain", "-occurred_at", "-id"], name="audit_action_recent_idx"
)


def _action_index(schema_editor) -> models.Index:
    return ACTION_INDEX if schema_editor.connection.vendor == "postgresql" else PLAIN_ACTION_INDEX


def action_index_add(apps, schema_editor):
    schema_editor.add_index(apps.get_model("audit", "AuditEvent"), _action_index(schema_editor))


def action_index_remove(apps, schema_editor):
    schema_editor.remove_index(apps.get_model("audit", "AuditEvent"), _action_index(schema_editor))


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
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["actor_label", "chain", "-occurred_at", "-id"],
                name="audit_actor_recent_idx",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="auditevent", index=ACTION_INDEX)],
            database_operations=[migrations.RunPython(action_index_add, action_index_remove)],
        ),
    ]
