from celery import shared_task

from reviewapp.operations.metrics.recount import metrics_recount


@shared_task(name="operations.recount_metrics")
def recount_metrics() -> dict:
    snapshot = metrics_recount()
    return {"gauges": len(snapshot.values), "ms": round(snapshot.duration_ms)}
