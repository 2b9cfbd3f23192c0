"""Reads of the background processes' health: who is alive, what they hold, how sweeps ran."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from reviewapp.core.health.lease import BEAT
from reviewapp.core.health.models import BeatLease, Heartbeat, ProcessKind, SweepRun
from reviewapp.core.humanize import duration_text


def _fresh_since(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.REVIEWAPP_HEARTBEAT_STALE_SECONDS)


@dataclass(frozen=True)
class ProcessState:
    heartbeat: Heartbeat
    alive: bool
    silent_for: timedelta
    # For beat: whether it holds the lease, i.e. sends the sweeps (the others stand by).
    leads: bool = False

    @property
    def silent_text(self) -> str:
        return duration_text(self.silent_for)

    @property
    def tasks_taken(self) -> int:
        return sum(self.heartbeat.tasks.values())


def processes(*, now: datetime | None = None) -> list[ProcessState]:
    """Every process that reported, workers first, with whether it is still alive."""
    now = now or timezone.now()
    fresh_since = _fresh_since(now)
    leader = beat_leader(now=now)
    return [
        ProcessState(
            heartbeat=beat,
            alive=beat.seen_at >= fresh_since,
            silent_for=now - beat.seen_at,
            leads=beat.kind == ProcessKind.BEAT and beat.name == leader,
        )
        for beat in Heartbeat.objects.order_by("-kind", "name")
    ]


def beat_leader(*, now: datetime | None = None) -> str | None:
    """The name of the beat that holds an unlapsed lease, if any."""
    return (
        BeatLease.objects.filter(name=BEAT, expires_at__gt=now or timezone.now())
        .values_list("holder", flat=True)
        .first()
    )


def live_count(kind: str, *, now: datetime | None = None) -> int:
    return Heartbeat.objects.filter(
        kind=kind, seen_at__gte=_fresh_since(now or timezone.now())
    ).count()


def last_seen(kind: str) -> datetime | None:
    heartbeat = Heartbeat.objects.filter(kind=kind).order_by("-seen_at").first()
    return heartbeat.seen_at if heartbeat else None


def held_item_ids(*, now: datetime | None = None) -> set[int]:
    """Items that a live worker is running, or holds for a retry: not lost, whatever their age."""
    held: set[int] = set()
    rows = Heartbeat.objects.filter(
        kind=ProcessKind.WORKER, seen_at__gte=_fresh_since(now or timezone.now())
    ).values_list("holding", flat=True)
    for holding in rows:
        held.update(holding or ())
    return held


def sweep_runs() -> dict[str, SweepRun]:
    return {run.name: run for run in SweepRun.objects.all()}


def worker_is_alive() -> bool:
    return live_count(ProcessKind.WORKER) > 0


def beat_is_alive() -> bool:
    return live_count(ProcessKind.BEAT) > 0
