"""The reconciler sends pipeline work again only when the evidence says its message is lost."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from reviewapp.core.health.models import ProcessKind
from reviewapp.core.health.services import heartbeat_beat
from reviewapp.operations.demo import demo_items_submit
from workflows.models import Item, ItemStatus
from workflows.pipeline.reconciler import items_find_lost, items_find_unresumed

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def settings_for_reconciler(settings):
    settings.REVIEWAPP_RECONCILE_GRACE_SECONDS = 15
    settings.REVIEWAPP_RECONCILE_CEILING_SECONDS = 300
    settings.REVIEWAPP_HEARTBEAT_STALE_SECONDS = 20
    return settings


@pytest.fixture
def received(demo, settings_for_reconciler):
    """Three items received at NOW whose pipeline message never arrived anywhere."""
    with time_machine.travel(NOW, tick=False):
        demo_items_submit(demo, count=3, seed=5)
    return sorted(Item.objects.values_list("pk", flat=True))


def worker_holding(item_ids, *, at):
    with time_machine.travel(at, tick=False):
        heartbeat_beat(
            name="celery@host-a",
            kind=ProcessKind.WORKER,
            hostname="host-a",
            pid=1,
            started_at=NOW,
            holding=item_ids,
        )


def test_items_within_the_grace_period_are_not_lost(received):
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        assert items_find_lost(queue_depth=0) == []


def test_past_the_grace_period_with_an_empty_queue_and_no_holder_they_are_lost(received):
    later = NOW + timedelta(seconds=16)
    with time_machine.travel(later, tick=False):
        assert items_find_lost(queue_depth=0) == received
    # Marked as sent again: the next pass gives the new message its grace period.
    assert set(Item.objects.values_list("updated_at", flat=True)) == {later}
    with time_machine.travel(later + timedelta(seconds=10), tick=False):
        assert items_find_lost(queue_depth=0) == []


def test_items_a_live_worker_holds_are_left_alone_until_its_heartbeat_goes_stale(received):
    worker_holding(received[:2], at=NOW + timedelta(seconds=10))
    with time_machine.travel(NOW + timedelta(seconds=20), tick=False):
        assert items_find_lost(queue_depth=0) == received[2:]
    # The worker died at +10 s; at +31 s its heartbeat is stale and its items are lost.
    with time_machine.travel(NOW + timedelta(seconds=31), tick=False):
        assert items_find_lost(queue_depth=0) == received[:2]


def test_behind_a_backlog_items_go_again_only_past_the_ceiling(received):
    with time_machine.travel(NOW + timedelta(seconds=60), tick=False):
        assert items_find_lost(queue_depth=12) == []
    with time_machine.travel(NOW + timedelta(seconds=301), tick=False):
        assert items_find_lost(queue_depth=12) == received
    with time_machine.travel(NOW + timedelta(seconds=400), tick=False):
        assert items_find_lost(queue_depth=12) == [], "at most once per ceiling"


def test_items_untouched_since_the_broker_restarted_go_again_without_a_grace_period(received):
    # Redis restarted at +5 s: the items' messages went with it (or never left while it was
    # down), so at +6 s they are lost although their grace period runs until +15 s.
    restarted = NOW + timedelta(seconds=5)
    with time_machine.travel(NOW + timedelta(seconds=6), tick=False):
        assert items_find_lost(queue_depth=0, broker_started_at=restarted) == received
    # Sent again at +6 s, after the restart: the new messages get their grace period.
    with time_machine.travel(NOW + timedelta(seconds=12), tick=False):
        assert items_find_lost(queue_depth=0, broker_started_at=restarted) == []


def test_a_broker_up_since_before_the_items_leaves_them_their_grace_period(received):
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        long_ago = NOW - timedelta(hours=1)
        assert items_find_lost(queue_depth=0, broker_started_at=long_ago) == []


def test_after_a_broker_restart_a_holder_and_a_backlog_still_hold_items_back(received):
    restarted = NOW + timedelta(seconds=5)
    worker_holding(received[:1], at=restarted)
    with time_machine.travel(NOW + timedelta(seconds=6), tick=False):
        # A broker that kept its messages on disk has them queued again: wait for them.
        assert items_find_lost(queue_depth=3, broker_started_at=restarted) == []
        assert items_find_lost(queue_depth=0, broker_started_at=restarted) == received[1:]


def test_finished_items_are_never_lost(received):
    Item.objects.filter(pk=received[0]).update(status=ItemStatus.COMPLETED)
    with time_machine.travel(NOW + timedelta(seconds=16), tick=False):
        assert items_find_lost(queue_depth=0) == received[1:]


@pytest.mark.django_db(transaction=True)
def test_an_item_whose_row_a_running_batch_has_locked_is_not_lost(demo, settings_for_reconciler):
    with time_machine.travel(NOW, tick=False):
        demo_items_submit(demo, count=2, seed=6)
    locked, free = sorted(Item.objects.values_list("pk", flat=True))
    holding, release = threading.Event(), threading.Event()

    def batch_in_progress():
        try:
            with transaction.atomic():
                Item.objects.select_for_update().filter(pk=locked).get()
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=batch_in_progress)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        with time_machine.travel(NOW + timedelta(seconds=16), tick=False):
            assert items_find_lost(queue_depth=0) == [free]
    finally:
        release.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_settled_reviews_are_resumed_only_when_nothing_waits_and_no_worker_holds_them(
    demo, reviewer, routed_items, settings_for_reconciler
):
    from reviewapp.review.reviews.claims import review_task_claim
    from reviewapp.review.reviews.decisions import review_task_decide

    item = routed_items(count=30, seed=3)[0]
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    review_task_decide(task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept")
    decided = task.item_id
    assert item.status == ItemStatus.AWAITING_REVIEW
    assert items_find_unresumed(queue_depth=0) == [decided]
    assert items_find_unresumed(queue_depth=3) == []
    worker_holding([decided], at=timezone.now())
    assert items_find_unresumed(queue_depth=0) == []
