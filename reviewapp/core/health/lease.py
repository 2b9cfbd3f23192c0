"""The beat leader lease: taking, renewing and releasing it, and the fenced check before each
sweep is sent. Times come from the database's clock, so hosts with skewed clocks agree."""

import socket
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Now

from reviewapp.core.health.models import BeatLease

BEAT = "beat"
LAPSED = datetime(2000, 1, 1, tzinfo=UTC)


def beat_name() -> str:
    """The name this beat reports under: its heartbeat, and the lease holder people see."""
    return settings.REVIEWAPP_BEAT_NAME or f"beat@{socket.gethostname()}"


def _in(seconds: float) -> ExpressionWrapper:
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


@transaction.atomic
def lease_hold(*, holder: str, token: str, seconds: float, name: str = BEAT) -> int | None:
    """Renew this process's lease, or take it when it has lapsed. Returns the fence this process
    now holds, or ``None`` while another process leads."""
    BeatLease.objects.get_or_create(name=name, defaults={"expires_at": LAPSED})
    leases = BeatLease.objects.filter(name=name)
    renewed = leases.filter(holder_token=token, expires_at__gt=Now()).update(
        expires_at=_in(seconds)
    )
    if not renewed:
        taken = leases.filter(Q(expires_at__lte=Now()) | Q(holder_token=token)).update(
            holder=holder,
            holder_token=token,
            fence=F("fence") + 1,
            acquired_at=Now(),
            expires_at=_in(seconds),
            sent=0,
        )
        if not taken:
            return None
    # The row stays locked by the update until commit: this is the fence just written.
    return leases.values_list("fence", flat=True).get()


def lease_dispatch(*, token: str, fence: int, name: str = BEAT) -> bool:
    """Count one sweep about to be sent, only while ``fence`` is current and unlapsed."""
    return bool(
        BeatLease.objects.filter(
            name=name, holder_token=token, fence=fence, expires_at__gt=Now()
        ).update(sent=F("sent") + 1)
    )


def lease_release(*, token: str, name: str = BEAT) -> None:
    """A leader that stops cleanly lets a standby take over at its next renewal."""
    BeatLease.objects.filter(name=name, holder_token=token).update(expires_at=Now())


def lease_forfeit(*, holder: str, name: str = BEAT) -> None:
    """A supervisor saw the beat named ``holder`` exit: its lease lapses now, so the beat it
    starts again sends the sweeps at once instead of after a lease period."""
    BeatLease.objects.filter(name=name, holder=holder).update(expires_at=Now())
