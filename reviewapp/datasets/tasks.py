from celery import shared_task

from reviewapp.datasets.services import (
    dataset_export_build,
    dataset_export_fail,
    dataset_exports_resume_stalled,
)


@shared_task(name="datasets.build_export", bind=True, max_retries=3)
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
