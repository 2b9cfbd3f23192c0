"""Is this deployment ready to do its work? The database, the broker, and fresh heartbeats of a
worker and of beat, each with the reason when it is not. ``/readyz``, ``manage.py health`` and
the Pipeline page read the same checks."""

from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from reviewapp.core.health.broker import broker_queue_depth
from reviewapp.core.health.models import ProcessKind
from reviewapp.core.health.selectors import last_seen, live_count
from reviewapp.core.humanize import duration_text


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check("database", False, f"The database cannot be reached: {_first_line(exc)}")
    return Check("database", True, "The database answers.")


def broker_check() -> Check:
    depth = broker_queue_depth()
    if depth is None:
        return Check("broker", False, "The broker cannot be reached: no work can be sent.")
    return Check("broker", True, f"The broker answers; {depth} message(s) wait.")


PROCESS_WORK: dict[str, str] = {
    ProcessKind.WORKER: "pipeline steps, resumes, webhooks and exports are not running",
    ProcessKind.BEAT: "SLA clocks, escalations, retries and the reconciler are not running",
}


def process_check(kind: str) -> Check:
    name = ProcessKind(kind).label.lower()
    if live_count(kind):
        return Check(
            name,
            True,
            f"A {name} reported in the last {settings.REVIEWAPP_HEARTBEAT_STALE_SECONDS} s.",
        )
    seen = last_seen(kind)
    if seen is None:
        return Check(name, False, f"No {name} has ever reported: {PROCESS_WORK[kind]}.")
    silent = duration_text(timezone.now() - seen)
    return Check(name, False, f"No {name} has reported for {silent}: {PROCESS_WORK[kind]}.")


def readiness() -> list[Check]:
    checks = [database_check(), broker_check()]
    kinds = [
        kind
        for kind, needed in (
            (ProcessKind.WORKER, settings.REVIEWAPP_READY_NEEDS_WORKER),
            (ProcessKind.BEAT, settings.REVIEWAPP_READY_NEEDS_BEAT),
        )
        if needed
    ]
    for kind in kinds:
        if not checks[0].ok:
            label = ProcessKind(kind).label.lower()
            checks.append(Check(label, False, "Unknown while the database cannot be reached."))
        else:
            checks.append(process_check(kind))
    return checks


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
