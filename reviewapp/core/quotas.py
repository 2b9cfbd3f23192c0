"""Per-team limits on expensive work in flight (retraining runs, dataset exports).

The check and the insert it guards run in one transaction holding the team's row lock, so two
concurrent requests cannot both take the last free place.
"""

from django.db.models import QuerySet

from reviewapp.core.accounts.models import Team
from reviewapp.core.errors import QuotaExceeded


def team_quota_take(*, team_id: int, in_flight: QuerySet, limit: int, what: str) -> None:
    """Refuse (429) when ``in_flight`` (the team's unfinished work) already holds ``limit``.

    Must run inside the transaction that then creates the new work.
    """
    Team.objects.select_for_update().filter(pk=team_id).first()
    count = in_flight.count()
    if count >= limit:
        raise QuotaExceeded(
            f"Your team already has {count} {what} in flight (the limit is {limit}); "
            "wait for one to finish."
        )
