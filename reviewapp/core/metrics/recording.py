"""``count`` and ``observe``: called by the services as work happens.

Inside a transaction the counts wait for its commit (work rolled back was not done), summed per
transaction so a batch of 250 items costs one round trip to the store, not 250.
"""

import json
import math
import threading
from collections import defaultdict

from django.conf import settings
from django.db import transaction

from reviewapp.core.metrics.series import Series
from reviewapp.core.metrics.store import Increments, store_add

_local = threading.local()


class CountsOnCommit:
    """The counts of one transaction, sent by its on-commit callback."""

    def __init__(self) -> None:
        self.increments: Increments = defaultdict(float)
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        store_add(dict(self.increments))


def label_field(series: Series, labels: dict[str, object]) -> list[str]:
    if set(labels) != set(series.labels):
        raise ValueError(f"{series.name} takes labels {series.labels}, got {sorted(labels)}")
    return [str(labels[name]) for name in series.labels]


def bucket_label(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def count(series: Series, amount: float = 1, **labels: object) -> None:
    if series.is_histogram:
        raise TypeError(f"{series.name} is a histogram: observe it")
    if amount:
        _record({(series.name, json.dumps(label_field(series, labels))): amount})


def observe(series: Series, value: float, **labels: object) -> None:
    if not series.is_histogram:
        raise TypeError(f"{series.name} is a counter: count it")
    values = label_field(series, labels)
    bound = next((b for b in series.buckets if value <= b), math.inf)
    field = json.dumps(values)
    _record(
        {
            (f"{series.name}:bucket", json.dumps([*values, bucket_label(bound)])): 1,
            (f"{series.name}:sum", field): value,
            (f"{series.name}:count", field): 1,
        }
    )


def _record(increments: Increments) -> None:
    if not settings.REVIEWAPP_METRICS_ENABLED:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        store_add(increments)
        return
    pending = _pending_of(connection)
    for key, amount in increments.items():
        pending.increments[key] += amount


def _pending_of(connection) -> CountsOnCommit:
    """This transaction's counts: the ones registered at this savepoint level or above it.

    Django keeps each on-commit callback with the savepoints open when it was registered, and
    drops it when one of them rolls back or the transaction ends; a callback registered inside a
    savepoint that was since released belongs to another (sub)transaction: start a new one.
    """
    pending = getattr(_local, "pending", None)
    if pending is not None and not pending.sent:
        open_savepoints = set(connection.savepoint_ids)
        for savepoints, callback, *_ in connection.run_on_commit:
            if callback is pending and savepoints <= open_savepoints:
                return pending
    pending = CountsOnCommit()
    transaction.on_commit(pending)
    _local.pending = pending
    return pending
