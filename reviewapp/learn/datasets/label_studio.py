"""Pushing a dataset release to a Label Studio project (label-studio-sdk 2.x).

The project's labeling config is derived from the workflow's output schema: one ``Choices`` per
enum field of the output, bound to a ``Text`` that shows the workflow's text fields. Tasks carry
the model's output as a prediction and the reviewer's as an annotation, read back from the
immutable release file, so what lands in Label Studio is exactly what was approved.
"""

from collections.abc import Iterator
from itertools import islice
from typing import Any, cast
from xml.sax.saxutils import quoteattr

from django.db import transaction

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import UpstreamFailed
from reviewapp.learn.datasets.exporters import label_studio_task
from reviewapp.learn.datasets.models import DatasetExport, ExportFormat, ExportStatus
from reviewapp.learn.datasets.readers import READERS, read_label_studio_tasks
from reviewapp.learn.datasets.services import release_file_open

IMPORT_BATCH = 500
TEXT_NAME = "text"  # the name the task results' ``to_name`` refers to (see label_studio_task)


class LabelStudioPushFailed(UpstreamFailed):
    """Label Studio refused the project or the tasks, or could not be reached (502)."""


def label_config(definition: dict) -> str:
    """``<View>`` with the text fields and a single-choice ``Choices`` per enum output field."""
    lines = ["<View>", f'  <Text name="{TEXT_NAME}" value="${TEXT_NAME}"/>']
    for name, schema in sorted(definition["output_schema"].get("properties", {}).items()):
        options = schema.get("enum") if isinstance(schema, dict) else None
        if not options:
            continue  # free-form outputs have no Choices tag; they travel in the task data
        lines.append(
            f"  <Header value={quoteattr(name)}/>\n"
            f'  <Choices name={quoteattr(name)} toName={quoteattr(TEXT_NAME)} choice="single">'
        )
        lines += [f"    <Choice value={quoteattr(str(option))}/>" for option in options]
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines)


def _tasks(export: DatasetExport, text_fields: list[str]) -> Iterator[dict]:
    with release_file_open(export) as handle:
        if export.format == ExportFormat.LABEL_STUDIO:
            tasks: Iterator[dict] = iter(read_label_studio_tasks(handle))
        else:
            tasks = (label_studio_task(row) for row in READERS[export.format](handle))
        yield from _with_text(tasks, text_fields)


def _with_text(tasks: Iterator[dict], text_fields: list[str]) -> Iterator[dict]:
    for task in tasks:
        data = task["data"]
        task["data"] = data | {
            TEXT_NAME: "\n\n".join(str(data.get(field, "")) for field in text_fields)
        }
        for annotation in task["annotations"]:
            # Label Studio wants a user of its own there; the pseudonym goes in the task meta.
            reviewer = annotation.pop("completed_by", {}).get("pseudonym")
            task.setdefault("meta", {})["reviewer"] = reviewer
        yield task


def dataset_release_push_label_studio(
    *, export: DatasetExport, acting_user, base_url: str, api_key: str, httpx_client=None
) -> dict:
    """Create a Label Studio project for a built release and import its tasks in batches.

    The network calls run outside any transaction; the push is audited once it succeeded.
    """
    from label_studio_sdk import LabelStudio  # heavy import, only needed here

    if export.status != ExportStatus.READY:
        raise LabelStudioPushFailed("Only a built release can be pushed to Label Studio.")
    version = export.workflow.current_version
    assert version is not None
    definition = version.definition
    client_options = {"httpx_client": httpx_client} if httpx_client is not None else {}
    ls = LabelStudio(base_url=base_url, api_key=api_key, **client_options)
    title = f"{export.workflow.name} corrections {export.release_name}"[:50]
    task_ids: list[int] = []
    try:
        project = ls.projects.create(
            title=title,
            label_config=label_config(definition),
            description=f"reviewapp release {export.release_name} of {export.workflow.slug}, "
            f"export {export.pk}, sha256 {export.sha256}",
        )
        assert project.id is not None
        tasks = _tasks(export, definition["text_fields"])
        while batch := list(islice(tasks, IMPORT_BATCH)):
            # The SDK accepts plain task dicts; its type hints name its own request model.
            imported = ls.projects.import_tasks(
                project.id, request=cast(Any, batch), return_task_ids=True
            )
            # ``task_ids`` is an extra field of the Community edition's answer.
            task_ids += getattr(imported, "task_ids", None) or []
    except LabelStudioPushFailed:
        raise
    except Exception as exc:  # the SDK raises httpx errors and its own ApiError
        raise LabelStudioPushFailed(f"Label Studio refused the push: {exc}") from exc
    project_url = f"{base_url.rstrip('/')}/projects/{project.id}/"
    result = {
        "project_id": project.id,
        "project_url": project_url,
        "tasks": len(task_ids),
        "base_url": base_url,
    }
    with transaction.atomic(durable=True):
        # Where the release now lives: what a pull of its annotations reads back.
        DatasetExport.objects.filter(pk=export.pk).update(
            label_studio_project_id=project.id, label_studio_url=project_url
        )
        export.label_studio_project_id, export.label_studio_url = project.id, project_url
        audit_record(
            action="export.pushed_to_label_studio",
            obj=export,
            actor=acting_user,
            chain=export.workflow.audit_chain,
            data=result,
        )
    return result
