"""Heartbeats and sweep runs: what background processes write about themselves."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviewapp.core.health.models import Heartbeat, SweepRun

SUMMARY_LENGTH = 500


def heartbeat_beat(
    *,
    name: str,
    kind: str,
    hostname: str,
    pid: int,
    started_at: datetime,
    holding: Iterable[int] = (),
    tasks: dict[str, int] | None = None,
) -> Heartbeat:
    """Say "alive" for one process, with what it holds right now."""
    heartbeat, _ = Heartbeat.objects.update_or_create(
        name=name,
        defaults={
            "kind": kind,
            "hostname": hostname,
            "pid": pid,
            "started_at": started_at,
            "seen_at": timezone.now(),
            "holding": sorted(set(holding)),
            "tasks": tasks or {},
        },
    )
    return heartbeat


def heartbeat_forget(*, name: str) -> None:
    """A process that stops cleanly leaves no heartbeat behind to look dead."""
    Heartbeat.objects.filter(name=name).delete()


@transaction.atomic
def heartbeat_restart_record(*, name: str, kind: str, hostname: str, exit_status: str) -> None:
    """A supervisor restarted the process: count it, and say how the last one ended."""
    now = timezone.now()
    updated = Heartbeat.objects.filter(name=name).update(
        restarts=F("restarts") + 1, last_exit=exit_status[:200], restarted_at=now
    )
    if not updated:
        # It died before its first heartbeat; the row shows the restart until one arrives.
        Heartbeat.objects.create(
            name=name,
            kind=kind,
            hostname=hostname,
            pid=0,
            started_at=now,
            seen_at=now - timedelta(days=1),
            restarts=1,
            last_exit=exit_status[:200],
            restarted_at=now,
        )


def sweep_run_started(*, name: str) -> None:
    now = timezone.now()
    updated = SweepRun.objects.filter(name=name).update(
        started_at=now, finished_at=None, succeeded=None, runs=F("runs") + 1
    )
    if not updated:
        SweepRun.objects.get_or_create(name=name, defaults={"started_at": now, "runs": 1})


def sweep_run_finished(*, name: str, succeeded: bool, summary: str) -> None:
    SweepRun.objects.filter(name=name).update(
        finished_at=timezone.now(), succeeded=succeeded, summary=summary[:SUMMARY_LENGTH]
    )


def heartbeats_prune(*, older_than: timedelta) -> int:
    """Forget processes that have been silent for long (a host that was retired)."""
    deleted, _ = Heartbeat.objects.filter(seen_at__lt=timezone.now() - older_than).delete()
    return deleted
