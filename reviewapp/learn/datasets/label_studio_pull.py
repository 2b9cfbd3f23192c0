"""Pulling annotations made in Label Studio back as corrections (label-studio-sdk 2.x).

A release pushed to a project (``label_studio``) may be annotated further there. A pull reads
the project's tasks, maps each back to an item of the release through the item id in the task
data, and records every annotation that says something else than what we pushed as a
``Correction`` of source ``label_studio``. Its ``external_id`` (``ls:<project>:<annotation>``)
is unique, so pulling twice adds nothing.

The pull runs as a Celery task: ``dataset_release_pull_label_studio_start`` queues it,
``dataset_release_pull_label_studio`` does it.
"""

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Conflict
from reviewapp.core.jobs import job_send_on_commit
from reviewapp.learn.datasets.label_studio import LabelStudioPushFailed
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus, LabelStudioPullStatus
from reviewapp.learn.datasets.readers import READERS, label_studio_output
from reviewapp.learn.datasets.services import release_file_open
from reviewapp.review.corrections.models import Correction, CorrectionSource
from reviewapp.review.corrections.services import canonical_hash, output_diff
from workflows.models import Item

PULL_TASK = "datasets.pull_label_studio"

PAGE_SIZE = 100
# A pull still marked running after this long died with its worker; a new one may start
# (pulling is idempotent, so the overlap of a straggler adds nothing twice).
STALE_PULL = timedelta(minutes=15)
UNDER_WAY = (LabelStudioPullStatus.PENDING, LabelStudioPullStatus.RUNNING)


class LabelStudioPullFailed(LabelStudioPushFailed):
    """Label Studio could not be read, or refused (502); nothing was recorded."""


class LabelStudioPullConflict(Conflict):
    """The release was never pushed, or a pull of it is already under way (409)."""


def annotator_pseudonym(*, project_url: str, user_id: Any) -> str:
    """A stable id for a Label Studio annotator, by the reviewers' HMAC scheme
    (``corrections.services.reviewer_pseudonym``) under a key of its own, so an annotator never
    collides with one of our reviewers."""
    return hmac.new(
        settings.REVIEWAPP_PSEUDONYM_KEY.encode(),
        f"label-studio:{project_url}:{user_id}".encode(),
        hashlib.sha256,
    ).hexdigest()[:16]


def pull_summary(export: DatasetExport) -> dict:
    """What the pull endpoint answers: the status, and the counts once done."""
    return {
        "export": export.pk,
        "project_id": export.label_studio_project_id,
        "project_url": export.label_studio_url or None,
        "status": export.label_studio_pull_status or None,
        "started_at": export.label_studio_pull_started_at,
        "result": export.label_studio_pull_result,
    }


def dataset_release_pull_label_studio_start(*, export: DatasetExport, acting_user) -> DatasetExport:
    """Queue a pull of the project the release was pushed to."""
    if export.status != ExportStatus.READY or not export.label_studio_project_id:
        raise LabelStudioPullConflict(
            "Push this release to Label Studio first; there is nothing to pull from yet."
        )
    now = timezone.now()
    with transaction.atomic(durable=True):
        # Compare-and-swap: two clicks queue one pull.
        claimed = (
            DatasetExport.objects.filter(pk=export.pk)
            .filter(
                ~Q(label_studio_pull_status__in=UNDER_WAY)
                | Q(label_studio_pull_started_at__lt=now - STALE_PULL)
            )
            .update(
                label_studio_pull_status=LabelStudioPullStatus.PENDING,
                label_studio_pull_started_at=now,
                label_studio_pull_result={},
            )
        )
        if not claimed:
            raise LabelStudioPullConflict("A pull of this release is already under way.")
        job_send_on_commit(PULL_TASK, export.pk, acting_user.pk)
    export.refresh_from_db()
    return export


def _read_annotations(
    *, project_id: int, base_url: str, api_key: str, httpx_client=None
) -> tuple[int, list[tuple[Any, dict]]]:
    """``(tasks read, [(task data's item id, annotation), ...])``, every page of the project."""
    from label_studio_sdk import LabelStudio  # heavy import, only needed here

    client_options = {"httpx_client": httpx_client} if httpx_client is not None else {}
    ls = LabelStudio(base_url=base_url, api_key=api_key, **client_options)
    tasks = 0
    annotations: list[tuple[Any, dict]] = []
    task: Any
    try:
        for task in ls.tasks.list(project=project_id, fields="all", page_size=PAGE_SIZE):
            tasks += 1
            item_id = (getattr(task, "data", None) or {}).get("item_id")
            for annotation in getattr(task, "annotations", None) or []:
                annotations.append((item_id, annotation))
    except Exception as exc:  # the SDK raises httpx errors and its own ApiError
        raise LabelStudioPullFailed(f"Label Studio could not be read: {exc}") from exc
    return tasks, annotations


def _annotated_at(annotation: dict, default: datetime) -> datetime:
    value = annotation.get("created_at")
    if not isinstance(value, str):
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return default
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def dataset_release_pull_label_studio(
    *, export_id: int, acting_user, base_url: str, api_key: str, httpx_client=None
) -> dict | None:
    """Record the project's new annotations as corrections; the counts, or None when this
    pull was not (or no longer) queued (a redelivered message)."""
    claimed = DatasetExport.objects.filter(
        pk=export_id, label_studio_pull_status=LabelStudioPullStatus.PENDING
    ).update(label_studio_pull_status=LabelStudioPullStatus.RUNNING)
    if not claimed:
        return None
    export = DatasetExport.objects.select_related("workflow").get(pk=export_id)
    try:
        return _pull(export, acting_user, base_url, api_key, httpx_client)
    except Exception as failed:
        # Whatever went wrong, the pull's transaction (if it began) rolled back; say so on the
        # export instead of leaving it "running" until the stale limit.
        error = str(failed) if isinstance(failed, LabelStudioPullFailed) else "The pull failed."
        DatasetExport.objects.filter(pk=export_id).update(
            label_studio_pull_status=LabelStudioPullStatus.FAILED,
            label_studio_pull_result={"error": error},
        )
        raise


def _pull(export: DatasetExport, acting_user, base_url: str, api_key: str, httpx_client) -> dict:
    project_id = export.label_studio_project_id
    assert project_id is not None
    # What we pushed, per item: the release as approved (only its items are ours).
    with release_file_open(export) as handle:
        pushed = {row["item_id"]: row["human_output"] for row in READERS[export.format](handle)}
    tasks, annotations = _read_annotations(
        project_id=project_id, base_url=base_url, api_key=api_key, httpx_client=httpx_client
    )
    version = export.workflow.current_version
    assert version is not None
    fields = {
        name: [str(option) for option in schema["enum"]]
        for name, schema in version.definition["output_schema"].get("properties", {}).items()
        if isinstance(schema, dict) and schema.get("enum")
    }
    counts = {
        "tasks": tasks,
        "annotations": len(annotations),
        "not_ours": 0,
        "cancelled_or_empty": 0,
        "invalid": 0,
        "unchanged": 0,
        "already_pulled": 0,
        "recorded": 0,
    }
    candidates: list[tuple[int, str, dict, dict]] = []
    for item_id, annotation in annotations:
        # Task data is editable in Label Studio: an id outside the release is not ours.
        if not isinstance(item_id, int) or isinstance(item_id, bool) or item_id not in pushed:
            counts["not_ours"] += 1
            continue
        key: int = item_id
        chosen = label_studio_output(annotation.get("result") or [])
        if annotation.get("was_cancelled") or not chosen:
            counts["cancelled_or_empty"] += 1
            continue
        if annotation.get("id") is None or any(
            name not in fields or value not in fields[name] for name, value in chosen.items()
        ):
            counts["invalid"] += 1  # the project's config was changed there; not our schema
            continue
        human_output = pushed[key] | chosen
        if human_output == pushed[key]:
            counts["unchanged"] += 1
            continue
        candidates.append(
            (key, f"ls:{project_id}:{annotation.get('id')}", human_output, annotation)
        )

    now = timezone.now()
    with transaction.atomic(durable=True):
        known = set(
            Correction.objects.filter(
                external_id__in=[external_id for _, external_id, _, _ in candidates]
            ).values_list("external_id", flat=True)
        )
        items = Item.objects.select_related("prediction__model_version").in_bulk(
            {key for key, external_id, _, _ in candidates if external_id not in known}
        )
        new: list[Correction] = []
        for key, external_id, human_output, annotation in candidates:
            if external_id in known:
                counts["already_pulled"] += 1
                continue
            item = items[key]
            prediction = item.prediction
            annotator = annotation.get("updated_by") or annotation.get("completed_by")
            new.append(
                Correction(
                    decision=None,
                    source=CorrectionSource.LABEL_STUDIO,
                    external_id=external_id,
                    item=item,
                    workflow_id=item.workflow_id,
                    workflow_version_id=item.workflow_version_id,
                    input=item.input,
                    input_hash=canonical_hash(item.input),
                    model_output=prediction.output,
                    human_output=human_output,
                    diff=output_diff(prediction.output, human_output),
                    model_version=str(prediction.model_version),
                    reviewer_pseudonym=annotator_pseudonym(
                        project_url=export.label_studio_url, user_id=annotator
                    ),
                    created_at=_annotated_at(annotation, now),
                )
            )
            known.add(external_id)  # two annotations with one id count once
        Correction.objects.bulk_create(new)
        counts["recorded"] = len(new)
        result = {"project_id": project_id} | counts
        DatasetExport.objects.filter(pk=export.pk).update(
            label_studio_pull_status=LabelStudioPullStatus.DONE, label_studio_pull_result=result
        )
        audit_record(
            action="export.pulled_from_label_studio",
            obj=export,
            actor=acting_user,
            chain=export.workflow.audit_chain,
            data=result,
        )
    return result
