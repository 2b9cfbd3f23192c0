from dataclasses import asdict

from celery import shared_task

from reviewapp.sla.services import sla_sweep


@shared_task(name="sla.sweep")
def sweep() -> dict[str, int]:
    """Beat runs this every 30 s; overlapping or redelivered runs are safe (see the service)."""
    return asdict(sla_sweep())
