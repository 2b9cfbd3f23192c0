"""What the broker tells about itself: when it started (a Redis of the test's own)."""

from datetime import timedelta

from django.utils import timezone

from reviewapp.core.health.broker import broker_started_at
from tests.support.redis_server import RedisServer, celery_app_on_broker


def test_a_redis_tells_when_it_started_and_nothing_while_it_is_down(tmp_path):
    before = timezone.now()
    with RedisServer(directory=tmp_path / "redis") as redis, celery_app_on_broker(redis.url()):
        started = broker_started_at()
        assert started is not None
        # Whole seconds of uptime, plus one: never later than the real start.
        assert before - timedelta(seconds=3) <= started <= timezone.now()
        redis.stop()
        assert broker_started_at(timeout=0.5) is None
