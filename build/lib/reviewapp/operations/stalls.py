"""Is background work stalled? What managers and operators see in the banner on every page.

Stalled means: no worker or no beat has reported lately, the broker cannot be reached, or an item
has been in the pipeline longer than ``REVIEWAPP_STALL_AFTER_SECONDS``. Counted at most every
few seconds per web process, since every open page asks.
"""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from reviewapp.core.health.models import ProcessKind
from reviewapp.core.health.readiness import broker_check, process_check
from reviewapp.core.humanize import duration_text
from workflows.selectors import oldest_in_flight

CACHE_KEY = "operations:stalls"
CACHE_SECONDS = 5


def stalls_now() -> list[str]:
    found = [
        check.detail
        for check in (
            process_check(ProcessKind.WORKER),
            process_check(ProcessKind.BEAT),
            broker_check(),
        )
        if not check.ok
    ]
    oldest = oldest_in_flight()
    if oldest is not None:
        item_id, status, arrived = oldest
        waited = timezone.now() - arrived
        if waited > timedelta(seconds=settings.REVIEWAPP_STALL_AFTER_SECONDS):
            found.append(
                f"Item {item_id} has been in the pipeline for {duration_text(waited)} "
                f"({status}): work is not moving."
            )
    return found


def stalls() -> list[str]:
    found: list[str] = cache.get_or_set(CACHE_KEY, stalls_now, CACHE_SECONDS) or []
    return found
