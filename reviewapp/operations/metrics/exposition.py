"""What a scrape of ``/metrics`` returns, read from stores that are cheap to read.

- request metrics of this web tier (prometheus-client; summed over gunicorn's workers);
- counters and histograms recorded as work happens (``reviewapp.core.metrics``' store);
- the gauges beat recounted (one row), with the time of that recount;
- live: heartbeats of workers and beat, and the circuit breakers (a few rows each).

Nothing here counts rows of the item or task tables.
"""

import json
import os
from collections import defaultdict
from collections.abc import Iterator

import redis
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from reviewapp.core.health.models import Heartbeat, MetricsSnapshot
from reviewapp.core.metrics.series import ALL, Series
from reviewapp.core.metrics.store import metrics_store
from reviewapp.operations.metrics.recount import SNAPSHOT
from workflows.models import BreakerState, CircuitBreaker, Workflow, WorkflowVersion

GAUGE_HELP = {
    "reviewapp_items_in_pipeline": "Items not completed, by status (dead letters not discarded).",
    "reviewapp_review_tasks": "Review tasks open or claimed, by SLA state.",
    "reviewapp_review_task_oldest_open_timestamp_seconds": "When the oldest open task opened.",
    "reviewapp_webhook_deliveries_pending": "Webhook deliveries waiting to be sent.",
    "reviewapp_webhook_deliveries_retrying": "Pending webhook deliveries that failed before.",
    "reviewapp_drift_score": "The last drift check's score per feature (PSI or new-words share).",
    "reviewapp_drift_alarm": "1 when the last drift check's feature is past its alarm.",
}
GAUGE_LABELS = {
    "reviewapp_items_in_pipeline": ("workflow", "version", "status"),
    "reviewapp_review_tasks": ("workflow", "version", "queue", "status", "sla_state"),
    "reviewapp_review_task_oldest_open_timestamp_seconds": ("queue",),
    "reviewapp_webhook_deliveries_pending": ("event",),
    "reviewapp_webhook_deliveries_retrying": ("event",),
    "reviewapp_drift_score": ("workflow", "version", "feature"),
    "reviewapp_drift_alarm": ("workflow", "version", "feature"),
}


class Names:
    """Ids recorded in labels, as people know them: the workflow's slug, the version's number."""

    def __init__(self) -> None:
        self.workflow = {str(pk): slug for pk, slug in Workflow.objects.values_list("pk", "slug")}
        self.version = {
            str(pk): str(number)
            for pk, number in WorkflowVersion.objects.values_list("pk", "number")
        }

    def label_values(self, labels: tuple[str, ...], values: list) -> list[str]:
        named = []
        for label, value in zip(labels, values, strict=True):
            lookup = getattr(self, label) if label in ("workflow", "version") else None
            value = str(value)
            named.append(lookup.get(value, value) if lookup is not None else value)
        return named


def _recorded(names: Names) -> Iterator[Metric]:
    keys = []
    for series in ALL:
        keys += (
            [f"{series.name}:bucket", f"{series.name}:sum", f"{series.name}:count"]
            if series.is_histogram
            else [series.name]
        )
    try:
        found = metrics_store().read(keys)
        up = 1.0
    except (redis.RedisError, OSError):
        found, up = {key: {} for key in keys}, 0.0
    yield GaugeMetricFamily(
        "reviewapp_metrics_store_up",
        "Whether the store of recorded counts answered this scrape.",
        value=up,
    )
    for series in ALL:
        if series.is_histogram:
            yield _histogram(series, found, names)
        else:
            family = CounterMetricFamily(series.name, series.help, labels=series.labels)
            for field, value in sorted(found[series.name].items()):
                family.add_metric(names.label_values(series.labels, json.loads(field)), value)
            yield family


def _histogram(series: Series, found: dict[str, dict[str, float]], names: Names) -> Metric:
    family = HistogramMetricFamily(series.name, series.help, labels=series.labels)
    bounds = [repr(float(b)) for b in series.buckets] + ["+Inf"]
    per_bucket: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in found[f"{series.name}:bucket"].items():
        *values, bound = json.loads(field)
        per_bucket[json.dumps(values)][bound] = value
    for field, total in sorted(found[f"{series.name}:sum"].items()):
        counts = per_bucket.get(field, {})
        running, buckets = 0.0, []
        for bound in bounds:
            running += counts.get(bound, 0.0)
            buckets.append((bound, running))
        family.add_metric(
            names.label_values(series.labels, json.loads(field)), buckets, sum_value=total
        )
    return family


def _recounted(names: Names) -> Iterator[Metric]:
    snapshot = MetricsSnapshot.objects.filter(name=SNAPSHOT).first()
    families = {
        name: GaugeMetricFamily(name, GAUGE_HELP[name], labels=labels)
        for name, labels in GAUGE_LABELS.items()
    }
    taken = GaugeMetricFamily(
        "reviewapp_metrics_recount_timestamp_seconds",
        "When beat last recounted the gauges (stale: beat or the workers are down).",
    )
    spent = GaugeMetricFamily(
        "reviewapp_metrics_recount_duration_seconds", "How long the last recount took."
    )
    if snapshot is not None:
        taken.add_metric([], snapshot.taken_at.timestamp())
        spent.add_metric([], snapshot.duration_ms / 1000)
        for name, labels, value in snapshot.values:
            family = families.get(name)
            if family is None:  # written by another version of this code
                continue
            order = GAUGE_LABELS[name]
            family.add_metric(names.label_values(order, [labels[k] for k in order]), value)
    yield from families.values()
    yield taken
    yield spent


def _live() -> Iterator[Metric]:
    seen = GaugeMetricFamily(
        "reviewapp_process_heartbeat_timestamp_seconds",
        "When each worker and beat last wrote its heartbeat.",
        labels=["kind", "name"],
    )
    restarts = CounterMetricFamily(
        "reviewapp_process_restarts",
        "Restarts of a background process by the quick start's supervisor.",
        labels=["kind", "name"],
    )
    for beat in Heartbeat.objects.only("kind", "name", "seen_at", "restarts"):
        seen.add_metric([beat.kind, beat.name], beat.seen_at.timestamp())
        restarts.add_metric([beat.kind, beat.name], beat.restarts)
    yield seen
    yield restarts
    state = GaugeMetricFamily(
        "reviewapp_model_breaker_state",
        "Circuit breaker of each model endpoint: 1 for its current state, 0 for the others.",
        labels=["endpoint", "state"],
    )
    failures = GaugeMetricFamily(
        "reviewapp_model_breaker_consecutive_failures",
        "Failed calls in a row to each model endpoint.",
        labels=["endpoint"],
    )
    for breaker in CircuitBreaker.objects.only("key", "state", "consecutive_failures"):
        for choice in BreakerState.values:
            state.add_metric([breaker.key, choice], 1.0 if breaker.state == choice else 0.0)
        failures.add_metric([breaker.key], breaker.consecutive_failures)
    yield state
    yield failures


class ReviewappCollector:
    def collect(self) -> Iterator[Metric]:
        names = Names()
        yield from _recorded(names)
        yield from _recounted(names)
        yield from _live()


class _ThisProcess:
    """prometheus-client's default registry (request metrics, process and GC figures)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def metrics_render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under gunicorn: the request metrics of every worker, from their files.
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())  # type: ignore[arg-type]
    registry.register(ReviewappCollector())  # type: ignore[arg-type]
    return generate_latest(registry)
