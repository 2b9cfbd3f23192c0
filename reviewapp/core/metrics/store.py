"""Where the counts live between a scrape and the next: Redis, or the database without it.

A count is an increment of one field of one hash: ``series`` names the hash (a histogram has
three: ``<name>:bucket``, ``<name>:sum`` and ``<name>:count``) and ``field`` is the JSON list
of its label values. Counters only ever grow; Prometheus turns them into rates.
"""

import functools
import logging
from collections.abc import Iterable
from typing import Protocol

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from reviewapp.core.health.models import MetricTotal

logger = logging.getLogger(__name__)

Increments = dict[tuple[str, str], float]


class Store(Protocol):
    def add(self, increments: Increments) -> None: ...

    def read(self, names: Iterable[str]) -> dict[str, dict[str, float]]: ...

    def clear(self) -> None: ...


class RedisStore:
    def __init__(self, url: str, prefix: str):
        # Short timeouts: a count must never hold up the work it counts for long.
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def add(self, increments: Increments) -> None:
        pipe = self.client.pipeline(transaction=False)
        for (series, field), amount in increments.items():
            if float(amount).is_integer():
                pipe.hincrby(self.prefix + series, field, int(amount))
            else:
                pipe.hincrbyfloat(self.prefix + series, field, amount)
        pipe.execute()

    def read(self, names: Iterable[str]) -> dict[str, dict[str, float]]:
        names = list(names)
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.prefix + name)
        return {
            name: {field.decode(): float(value) for field, value in values.items()}
            for name, values in zip(names, pipe.execute(), strict=True)
        }

    def clear(self) -> None:
        keys = list(self.client.scan_iter(match=self.prefix + "*", count=1000))
        if keys:
            self.client.delete(*keys)


class DatabaseStore:
    """The embedded quick start's store (no Redis there): one row per series and label set.

    Each increment is an ``UPDATE ... SET value = value + n`` in autocommit mode, after the
    work's own transaction committed; fine for one machine, too hot a row for a busy cluster.
    """

    def add(self, increments: Increments) -> None:
        for (series, field), amount in increments.items():
            rows = MetricTotal.objects.filter(series=series, field=field)
            if rows.update(value=F("value") + amount):
                continue
            try:
                with transaction.atomic():
                    MetricTotal.objects.create(series=series, field=field, value=amount)
            except IntegrityError:  # a concurrent first count made the row
                rows.update(value=F("value") + amount)

    def read(self, names: Iterable[str]) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {name: {} for name in names}
        for series, field, value in MetricTotal.objects.filter(series__in=found).values_list(
            "series", "field", "value"
        ):
            found[series][field] = value
        return found

    def clear(self) -> None:
        MetricTotal.objects.all().delete()


@functools.cache
def _store_for(url: str, prefix: str) -> Store:
    return RedisStore(url, prefix) if url else DatabaseStore()


def metrics_store() -> Store:
    return _store_for(settings.REVIEWAPP_METRICS_REDIS_URL, settings.REVIEWAPP_METRICS_KEY_PREFIX)


def store_add(increments: Increments) -> None:
    """Add the counts; a store that is down loses them (logged) instead of failing the work."""
    if not increments:
        return
    try:
        metrics_store().add(increments)
    except (redis.RedisError, OSError, IntegrityError):
        logger.warning("could not record %d metric counts", len(increments), exc_info=True)
