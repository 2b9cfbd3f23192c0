from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "reviewapp.review.approvals"
    label = "approvals"
    verbose_name = "Approvals (an agent asks a person before it acts)"

    def ready(self) -> None:
        from reviewapp.review.approvals.services import approval_task_decided
        from reviewapp.review.reviews.hooks import review_hooks_register

        review_hooks_register(opened=_nothing, decided=approval_task_decided)


def _nothing(*, tasks) -> None:
    """Approvals open their tasks themselves; nothing rides along the opening."""
