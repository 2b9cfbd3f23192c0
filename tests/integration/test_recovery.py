"""Recovery in seconds, with a real worker and beat on a private Redis.

The thresholds are settings; here they are short (a heartbeat a second, stale after three, a
grace period of two and the reconciler every second), so each test shows the behaviour quickly:
what the defaults do in a deployment, ``make bench-recovery`` measures.
"""

import os
import signal
from collections import Counter

import pytest

from reviewapp.core.health.models import Heartbeat, ProcessKind, SweepRun
from tests.integration.conftest import _stop, worker_start
from tests.integration.test_worker_failures import assert_ran_once, ingest, settled, statuses
from tests.support.redis_server import celery_app_on_broker
from workflows.demo.tickets import generate_tickets
from workflows.models import Item

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAST = {
    "REVIEWAPP_HEARTBEAT_SECONDS": "1",
    "REVIEWAPP_HEARTBEAT_STALE_SECONDS": "3",
    "REVIEWAPP_RECONCILE_GRACE_SECONDS": "2",
    "REVIEWAPP_RECONCILE_SECONDS": "1",
    # The restarted beat waits for the killed one's lease to lapse.
    "REVIEWAPP_BEAT_LEASE_SECONDS": "3",
    "REVIEWAPP_PIPELINE_BATCH": "10",
}


@pytest.fixture
def worker_with_beat(private_redis, media_root, tmp_path):
    """Start (and restart) a worker with beat inside it on the private Redis."""
    started = []
    with celery_app_on_broker(private_redis.url()):

        def start(name_suffix=""):
            worker = worker_start(
                broker_url=private_redis.url(),
                media_root=media_root,
                log_path=tmp_path / f"worker{name_suffix}.log",
                extra_env=FAST,
                extra_args=["--beat", f"--schedule={tmp_path / 'beat-schedule'}"],
            )
            started.append(worker)
            return worker

        yield start
        for worker in started:
            _stop(worker.process, gently=False)


def test_a_worker_and_its_beat_report_and_the_reconciler_records_its_runs(
    demo, worker_with_beat, wait_until
):
    worker = worker_with_beat()
    wait_until(
        lambda: (
            Heartbeat.objects.filter(kind=ProcessKind.BEAT).exists()
            and Heartbeat.objects.filter(name=worker.name, kind=ProcessKind.WORKER).exists()
        ),
        timeout=30.0,
        what=lambda: f"heartbeats: {list(Heartbeat.objects.values_list('name', flat=True))}",
    )
    wait_until(
        lambda: SweepRun.objects.filter(
            name="workflows.resume_stuck_items", succeeded=True
        ).exists(),
        timeout=30.0,
        what=lambda: f"sweep runs: {list(SweepRun.objects.values('name', 'succeeded'))}",
    )
    run = SweepRun.objects.get(name="workflows.resume_stuck_items")
    assert run.summary == "sent again 0, resumed 0"


def test_after_a_whole_worker_is_killed_and_restarted_every_item_settles_once(
    demo, worker_with_beat, wait_until, settings
):
    settings.REVIEWAPP_PIPELINE_BATCH = 10
    first = worker_with_beat("-1")
    tickets = [ticket.as_input() for ticket in generate_tickets(400, seed=41)]
    item_ids = ingest(demo, tickets, key="whole-worker-kill")
    wait_until(
        lambda: Item.objects.filter(pk__in=item_ids, current_step="").count() >= 40,
        timeout=60.0,
        what=lambda: f"{statuses(item_ids)}",
    )
    # kill -9 of the main process and its pool (and its beat): nothing is cleaned up.
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    assert not settled(item_ids), "the kill must leave work unfinished"

    second = worker_with_beat("-2")
    wait_until(
        lambda: settled(item_ids),
        timeout=60.0,
        what=lambda: f"items still in flight: {statuses(item_ids)}\n{second.log_tail()}",
    )
    assert_ran_once(item_ids)
    # The restarted worker reported, and the dead one's row went stale.
    names = Counter(Heartbeat.objects.filter(kind=ProcessKind.WORKER).values_list("name"))
    assert (second.name,) in names
