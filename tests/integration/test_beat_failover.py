"""Two real ``celery beat`` processes on one database: exactly one sends the sweeps, and when it
is killed the standby takes the lease over and sends them instead.

Both run on a private ``redis-server``, so the sweeps they send stay out of the suite's worker.
"""

import os
import signal
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from reviewapp.celery import app as celery_app
from reviewapp.core.health.lease import BEAT
from reviewapp.core.health.models import BeatLease, Heartbeat
from tests.integration.conftest import _spawn, _stop, database_url, wait_until
from tests.support.redis_server import BROKER_ENV

CELERY_BIN = Path(sys.executable).parent / "celery"
SENDING = "Scheduler: Sending due task"

pytestmark = pytest.mark.django_db(transaction=True)


class Beat:
    def __init__(self, name: str, *, broker_url: str, folder: Path) -> None:
        self.name = name
        folder.mkdir(parents=True)
        self.log_path = folder / "beat.log"
        env = {key: value for key, value in os.environ.items() if key not in BROKER_ENV} | {
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "REVIEWAPP_VAR_DIR": str(folder),
            "REVIEWAPP_BEAT_NAME": name,
            "REVIEWAPP_BEAT_LEASE_SECONDS": "3",
            "REVIEWAPP_HEARTBEAT_SECONDS": "1",
            "REVIEWAPP_RECONCILE_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        argv = [str(CELERY_BIN), "-A", "reviewapp", "beat", "--loglevel=INFO"]
        self.process = _spawn(argv, env, self.log_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sent(self) -> int:
        return self.log().count(SENDING)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)


def lease() -> BeatLease | None:
    return BeatLease.objects.filter(name=BEAT).first()


def holder() -> str | None:
    current = lease()
    return current.holder if current else None


def test_one_beat_sends_the_sweeps_and_a_standby_takes_over_when_it_dies(private_redis, tmp_path):
    broker_url = private_redis.url()
    queue = celery_app.conf.task_default_queue
    first = Beat("beat@first", broker_url=broker_url, folder=tmp_path / "first")
    second = None
    try:
        wait_until(
            lambda: holder() == first.name and first.sent() >= 2,
            timeout=60.0,
            what=lambda: f"the first beat never led (holder {holder()}):\n{first.log()[-3000:]}",
        )
        second = Beat("beat@second", broker_url=broker_url, folder=tmp_path / "second")
        wait_until(
            lambda: Heartbeat.objects.filter(name=second.name).exists() and first.sent() >= 6,
            timeout=60.0,
            what=lambda: f"the second beat never reported:\n{second.log()[-3000:]}",
        )
        assert holder() == first.name
        assert second.sent() == 0, "a standby sends nothing"
        assert private_redis.client().llen(queue) >= first.sent(), "the sweeps reached the broker"
        fence = lease().fence

        first.kill()
        wait_until(
            lambda: holder() == second.name and second.sent() >= 2,
            timeout=60.0,
            what=lambda: f"no take-over (holder {holder()}):\n{second.log()[-3000:]}",
        )
        assert lease().fence == fence + 1
        assert "beat lease taken" in second.log()

        # A clean stop hands the lease over at once instead of letting it lapse.
        _stop(second.process)
        assert "beat lease released" in second.log()
        assert holder() == second.name
        assert BeatLease.objects.filter(name=BEAT, expires_at__gt=timezone.now()).count() == 0
    finally:
        for beat in (first, second):
            if beat is not None:
                _stop(beat.process, gently=False)
