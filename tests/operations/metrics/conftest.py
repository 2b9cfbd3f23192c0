"""A metrics store of the test's own (a fresh key prefix on the test Redis) and a scrape reader."""

import contextlib
import uuid

import pytest
import redis
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from reviewapp.core.metrics.store import metrics_store

TOKEN = "scrape-token-for-the-tests-only"


@pytest.fixture(autouse=True)
def _own_metrics_store(settings):
    settings.REVIEWAPP_METRICS_KEY_PREFIX = f"test-metrics:{uuid.uuid4().hex}:"
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    yield
    with contextlib.suppress(redis.RedisError):  # a test may point the store at nothing
        metrics_store().clear()


class Scrape:
    """The samples of one ``/metrics`` answer: ``scrape.value(name, **labels)``."""

    def __init__(self, text: str):
        self.text = text
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, /, **labels: str) -> float:
        """Sum of the samples of that name whose labels include ``labels`` (0 when none)."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def names(self) -> set[str]:
        return {sample.name for sample in self.samples}


@pytest.fixture
def scrape():
    def read() -> Scrape:
        response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        return Scrape(response.content.decode())

    return read
