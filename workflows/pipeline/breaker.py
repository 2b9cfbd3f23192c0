"""Circuit breakers for model endpoints, kept in the database so every worker shares them.

closed --(N failures in a row)--> open --(cool-down passed, one caller wins)--> half_open
half_open --(probe succeeds)--> closed;  half_open --(probe fails)--> open again.

Writes happen only on failures and state changes, so the healthy path costs one read.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from workflows.models import BreakerState, CircuitBreaker


def breaker_allows(key: str) -> bool:
    breaker = CircuitBreaker.objects.filter(key=key).first()
    if breaker is None or breaker.state == BreakerState.CLOSED:
        return True
    now = timezone.now()
    cooldown = timedelta(seconds=settings.REVIEWAPP_BREAKER_COOLDOWN_SECONDS)
    if breaker.opened_at is not None and now - breaker.opened_at < cooldown:
        return False
    # Cooled down (or a probe that never reported back): exactly one caller gets to probe.
    won = CircuitBreaker.objects.filter(
        pk=breaker.pk, state=breaker.state, opened_at=breaker.opened_at
    ).update(state=BreakerState.HALF_OPEN, opened_at=now)
    return won == 1


def breaker_record_success(key: str) -> None:
    CircuitBreaker.objects.filter(key=key).exclude(
        state=BreakerState.CLOSED, consecutive_failures=0
    ).update(state=BreakerState.CLOSED, consecutive_failures=0, opened_at=None)


def breaker_record_failure(key: str, reason: str, *, failures: int = 1) -> None:
    """Count ``failures`` failed calls in a row (a batch reports its failed items at once)."""
    now = timezone.now()
    CircuitBreaker.objects.get_or_create(key=key)
    CircuitBreaker.objects.filter(key=key).update(
        consecutive_failures=F("consecutive_failures") + failures, last_failure=reason[:2000]
    )
    # Open on the N-th failure in a row, or again when a probe failed. (Calls refused by an
    # open circuit are not recorded, so a failure while not closed is always the probe's; its
    # half-open mark may have been rolled back with the failed step, hence OPEN here too.)
    CircuitBreaker.objects.filter(key=key).filter(
        Q(state__in=[BreakerState.HALF_OPEN, BreakerState.OPEN])
        | Q(
            state=BreakerState.CLOSED, consecutive_failures__gte=settings.REVIEWAPP_BREAKER_FAILURES
        )
    ).update(state=BreakerState.OPEN, opened_at=now)


def breakers(*, keys: set[str] | None = None) -> list[CircuitBreaker]:
    """Every breaker, or those of the model endpoints named in ``keys``."""
    found = CircuitBreaker.objects.order_by("key")
    return list(found if keys is None else found.filter(key__in=keys))
