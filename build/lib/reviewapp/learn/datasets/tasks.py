from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model

from reviewapp.learn.datasets.label_studio_pull import (
    PULL_TASK,
    LabelStudioPullFailed,
    dataset_release_pull_label_studio,
)
from reviewapp.learn.datasets.services import (
    BUILD_TASK,
    dataset_export_build,
    dataset_export_fail,
    dataset_exports_resume_stalled,
)


@shared_task(name=BUILD_TASK, bind=True, max_retries=3)
def build_export(self, export_id: int) -> None:
    try:
        dataset_export_build(export_id=export_id)
    except OSError as exc:
        if self.request.retries >= self.max_retries:
            dataset_export_fail(export_id=export_id, error=f"{type(exc).__name__}: {exc}")
            return
        raise self.retry(exc=exc, countdown=10) from exc


@shared_task(name="datasets.resume_stalled_builds")
def resume_stalled_builds() -> int:
    return len(dataset_exports_resume_stalled())


@shared_task(name=PULL_TASK, acks_late=True, reject_on_worker_lost=True)
def pull_label_studio(export_id: int, user_id: int) -> dict | None:
    try:
        return dataset_release_pull_label_studio(
            export_id=export_id,
            acting_user=get_user_model().objects.get(pk=user_id),
            base_url=settings.LABEL_STUDIO_URL,
            api_key=settings.LABEL_STUDIO_API_KEY,
        )
    except LabelStudioPullFailed:
        return None  # recorded on the export, where the pull endpoint reports it
