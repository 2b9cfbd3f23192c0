from datetime import timedelta

from celery import shared_task

from reviewapp.core.health.services import heartbeats_prune


@shared_task(name="health.prune_heartbeats")
def prune_heartbeats() -> int:
    """Beat sweep: forget processes silent for a day (a retired host), keep recent deaths."""
    return heartbeats_prune(older_than=timedelta(days=1))
