"""The gauges of ``/metrics`` that are counts of rows, recounted by beat every few seconds.

Counting a million open review tasks takes long enough that a scrape must never do it (and
Prometheus may scrape from several replicas): a beat task counts once and stores the result in
one row, which every scrape reads.
"""

import time

from django.db.models import Case, CharField, Count, F, Min, Q, Value, When
from django.utils import timezone

from reviewapp.core.health.models import MetricsSnapshot
from reviewapp.learn.monitoring.models import DriftCheck
from reviewapp.review.reviews.models import LIVE_STATUSES, ReviewTask
from workflows.models import DeliveryStatus, Item, ItemStatus, WebhookDelivery, WorkflowVersion

SNAPSHOT = "gauges"

# [series, labels, value]: workflow and version are ids, as in the counters.
Gauge = list


def _sla_state():
    return Case(
        When(breached_at__isnull=False, then=Value("breached")),
        When(at_risk_at__isnull=False, then=Value("at_risk")),
        When(due_at__isnull=False, then=Value("on_time")),
        default=Value("no_deadline"),
        output_field=CharField(),
    )


def _items_in_pipeline() -> list[Gauge]:
    rows = (
        Item.objects.exclude(status=ItemStatus.COMPLETED)
        .filter(discarded_at__isnull=True)
        .values("workflow_id", "workflow_version_id", "status")
        .annotate(n=Count("id"))
    )
    return [
        [
            "reviewapp_items_in_pipeline",
            {
                "workflow": r["workflow_id"],
                "version": r["workflow_version_id"],
                "status": r["status"],
            },
            r["n"],
        ]
        for r in rows
    ]


def _review_tasks() -> list[Gauge]:
    rows = (
        ReviewTask.objects.filter(status__in=LIVE_STATUSES)
        .annotate(sla_state=_sla_state())
        .values(
            "queue__slug", "item__workflow_id", "item__workflow_version_id", "status", "sla_state"
        )
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    gauges: list[Gauge] = []
    oldest: dict[str, float] = {}
    for r in rows:
        labels = {
            "workflow": r["item__workflow_id"],
            "version": r["item__workflow_version_id"],
            "queue": r["queue__slug"],
            "status": r["status"],
            "sla_state": r["sla_state"],
        }
        gauges.append(["reviewapp_review_tasks", labels, r["n"]])
        if r["status"] == "open":
            created = r["oldest"].timestamp()
            queue = r["queue__slug"]
            oldest[queue] = min(created, oldest.get(queue, created))
    gauges += [
        ["reviewapp_review_task_oldest_open_timestamp_seconds", {"queue": queue}, created]
        for queue, created in oldest.items()
    ]
    return gauges


def _webhook_backlog() -> list[Gauge]:
    rows = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
        .values("event")
        .annotate(n=Count("id"), failing=Count("id", filter=Q(attempts__gt=0)))
    )
    gauges: list[Gauge] = []
    for r in rows:
        gauges.append(["reviewapp_webhook_deliveries_pending", {"event": r["event"]}, r["n"]])
        gauges.append(
            ["reviewapp_webhook_deliveries_retrying", {"event": r["event"]}, r["failing"]]
        )
    return gauges


def _drift() -> list[Gauge]:
    """The last drift check of each workflow's current version: each feature's score, and
    whether it is past its own alarm (PSI and the new-words share have different ones)."""
    gauges: list[Gauge] = []
    for version in WorkflowVersion.objects.filter(pk=F("workflow__current_version")):
        check = (
            DriftCheck.objects.filter(workflow_id=version.workflow_id, version=version.number)
            .exclude(features=[])
            .order_by("-checked_at")
            .first()
        )
        for feature in check.features if check else []:
            labels = {
                "workflow": version.workflow_id,
                "version": version.pk,
                "feature": f"{feature['name']} ({feature['kind']})",
            }
            gauges.append(["reviewapp_drift_score", labels, feature["value"]])
            gauges.append(["reviewapp_drift_alarm", labels, int(feature["drifted"])])
    return gauges


def metrics_recount() -> MetricsSnapshot:
    started = time.perf_counter()
    values = _items_in_pipeline() + _review_tasks() + _webhook_backlog() + _drift()
    snapshot, _ = MetricsSnapshot.objects.update_or_create(
        name=SNAPSHOT,
        defaults={
            "taken_at": timezone.now(),
            "duration_ms": (time.perf_counter() - started) * 1000,
            "values": values,
        },
    )
    return snapshot
