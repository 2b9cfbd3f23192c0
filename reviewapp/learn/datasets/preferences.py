"""Preference datasets: decisive pairwise comparisons as prompt / chosen / rejected rows.

The rows are ``row.PreferenceRow`` (declared once as ``PREFERENCE_ROW``); the request, approval,
build, release folder, manifest and download are the correction datasets' own. Ties say no side
is better and are not rows. Filters: ``created_after`` / ``created_before`` (when decided),
``queues`` (pairwise queues of the workflow) and ``workflow_versions`` (of the compared item).
"""

from contextlib import contextmanager
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from reviewapp.learn.datasets.filters import SpecInvalid
from reviewapp.learn.datasets.row import PREFERENCE_VERSION, VERSION_SELECT, PreferenceRow
from reviewapp.review.pairwise.models import Comparison, Preferred

FILTERS = ("created_after", "created_before", "queues", "workflow_versions")


def preference_filters_check(filters: dict) -> None:
    """Refuse the correction filters that mean nothing for a comparison (reasons, outcomes)."""
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise SpecInvalid(
            {
                f"filters.{name}": [
                    f"Not a filter of preference datasets; use {', '.join(FILTERS)}."
                ]
                for name in unknown
            }
        )


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def preference_matching(*, workflow, filters: dict) -> QuerySet[Comparison]:
    """The workflow's decisive comparisons matching already parsed ``filters``, oldest first."""
    matching = Comparison.objects.filter(
        workflow=workflow,
        decided_at__isnull=False,
        preferred__in=[Preferred.CANDIDATE, Preferred.CHAMPION],
    )
    if "created_after" in filters:
        matching = matching.filter(decided_at__gte=_aware(filters["created_after"]))
    if "created_before" in filters:
        matching = matching.filter(decided_at__lt=_aware(filters["created_before"]))
    if "queues" in filters:
        matching = matching.filter(task__queue__slug__in=filters["queues"])
    if "workflow_versions" in filters:
        matching = matching.filter(item__workflow_version__number__in=filters["workflow_versions"])
    return matching.order_by("decided_at", "id")


@contextmanager
def preference_rows_counted(*, workflow, filters: dict, chunk: int = 5000):
    """``(how many, rows)``: tuples of what ``PreferenceRow`` reads, streamed in chunks."""
    selected = PreferenceRow.selected()
    annotations = {name: value for name, value in selected if value is not None}
    annotations[VERSION_SELECT[0]] = PREFERENCE_VERSION
    values = (
        preference_matching(workflow=workflow, filters=filters)
        .annotate(**annotations)
        .values_list(*(name for name, _ in selected))
    )
    yield values.count(), values.iterator(chunk_size=chunk)
