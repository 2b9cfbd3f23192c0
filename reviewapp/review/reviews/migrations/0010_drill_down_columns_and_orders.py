"""The managers' drill-down: each task's subject and predicted label, and its four orders.

Live tasks get their subject and label from their item here (decided ones are never listed).
On PostgreSQL the subject search gets a trigram index over live tasks on the expression Django's
``subject__icontains`` compares (``UPPER(subject::text) LIKE UPPER('%words%')``); SQLite (the
quick start) scans, which its small queues afford.
"""

import datetime

import django.db.models.expressions
import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models

SUBJECT_FIELDS = ("subject", "title", "summary", "headline", "name")
TRIGRAM_INDEX = "task_live_subject_trgm_idx"


def _subject_field(definition) -> str | None:
    schema = (definition or {}).get("input_schema") or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    names = list(properties) if isinstance(properties, dict) else []
    return next((name for name in SUBJECT_FIELDS if name in names), names[0] if names else None)


def live_tasks_fill(apps, schema_editor):
    """Subject and label of the live tasks, as ``review_tasks_open`` now writes them."""
    from reviewapp.review.reviews.subjects import (
        LABEL_LENGTH,
        SUBJECT_LENGTH,
        item_predicted_label,
        item_subject,
    )

    ReviewTask = apps.get_model("reviews", "ReviewTask")
    WorkflowVersion = apps.get_model("workflows", "WorkflowVersion")
    live = ReviewTask.objects.filter(status__in=["open", "claimed"])
    if schema_editor.connection.vendor == "postgresql":
        # One statement per workflow version: a million live tasks are not walked in Python.
        fields = {
            pk: _subject_field(definition)
            for pk, definition in WorkflowVersion.objects.values_list("pk", "definition")
        }
        task = ReviewTask._meta.db_table
        item = apps.get_model("workflows", "Item")._meta.db_table
        prediction = apps.get_model("workflows", "Prediction")._meta.db_table
        with schema_editor.connection.cursor() as cursor:
            for version_id, field in fields.items():
                if field is None:
                    continue
                cursor.execute(
                    f"UPDATE {task} t SET subject = CASE WHEN char_length(s.text) > %s "  # noqa: S608
                    "THEN left(s.text, %s) || '…' ELSE s.text END "
                    f"FROM (SELECT i.id, btrim(regexp_replace(i.input ->> %s, '\\s+', ' ', 'g')) "
                    f"AS text FROM {item} i WHERE i.workflow_version_id = %s) s "
                    "WHERE t.item_id = s.id AND t.status IN ('open', 'claimed') "
                    "AND s.text IS NOT NULL",
                    [SUBJECT_LENGTH, SUBJECT_LENGTH - 1, field, version_id],
                )
            cursor.execute(
                f"UPDATE {task} t SET predicted_label = left(p.output ->> 'label', %s) "  # noqa: S608
                f"FROM {prediction} p WHERE p.item_id = t.item_id "
                "AND t.status IN ('open', 'claimed') AND p.output ->> 'label' IS NOT NULL",
                [LABEL_LENGTH],
            )
        return
    for task in live.select_related("item__workflow_version", "item__prediction").iterator():
        task.subject = item_subject(task.item, task.item.workflow_version.definition)
        task.predicted_label = item_predicted_label(task.item)
        task.save(update_fields=["subject", "predicted_label"])


def trigram_index_add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension: the database's owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX {TRIGRAM_INDEX} ON reviews_reviewtask "
        "USING gin ((upper(subject::text)) gin_trgm_ops) "
        "WHERE status IN ('open', 'claimed')"
    )


def trigram_index_remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0009_decision_reviewer_recent"),
        ("workflows", "0013_traces_and_judges"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="reviewtask",
            name="task_live_due_idx",
        ),
        migrations.AddField(
            model_name="reviewtask",
            name="predicted_label",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="reviewtask",
            name="subject",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RunPython(live_tasks_fill, migrations.RunPython.noop),
        migrations.RunPython(trigram_index_add, trigram_index_remove),
        migrations.AddIndex(
            model_name="reviewtask",
            index=models.Index(
                models.F("queue"),
                django.db.models.functions.comparison.Coalesce(
                    models.F("due_at"),
                    models.Value(datetime.datetime(9999, 12, 31, 0, 0, tzinfo=datetime.UTC)),
                ),
                models.F("created_at"),
                models.F("id"),
                condition=models.Q(("status__in", ["open", "claimed"])),
                name="task_live_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="reviewtask",
            index=models.Index(
                condition=models.Q(("status__in", ["open", "claimed"])),
                fields=["queue", "created_at", "id"],
                name="task_live_age_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="reviewtask",
            index=models.Index(
                models.F("queue"),
                django.db.models.expressions.CombinedExpression(
                    models.F("priority"), "*", models.Value(-1)
                ),
                models.F("created_at"),
                models.F("id"),
                condition=models.Q(("status__in", ["open", "claimed"])),
                name="task_live_priority_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="reviewtask",
            index=models.Index(
                models.F("queue"),
                django.db.models.expressions.CombinedExpression(
                    models.F("uncertainty"), "*", models.Value(-1)
                ),
                models.F("created_at"),
                models.F("id"),
                condition=models.Q(("status__in", ["open", "claimed"])),
                name="task_live_uncertain_idx",
            ),
        ),
    ]
