from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "reviewapp.review.quality"
    label = "quality"
    verbose_name = "Reviewer quality (four-eyes review, gold items)"

    def ready(self) -> None:
        from reviewapp.review.judges.checks import judge_task_decided
        from reviewapp.review.quality.services import review_task_decided, review_tasks_opened
        from reviewapp.review.reviews.hooks import review_hooks_register

        review_hooks_register(opened=review_tasks_opened, decided=review_task_decided)
        # A decision on a judged item is a check of the judge (reviewapp.review.judges).
        review_hooks_register(opened=_nothing, decided=judge_task_decided)


def _nothing(*, tasks) -> None:
    """Judges ride along decisions only."""
