"""Heartbeats say which processes live and what they hold; sweep runs say how each sweep went."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from reviewapp.core.health.models import Heartbeat, ProcessKind, SweepRun
from reviewapp.core.health.selectors import (
    beat_is_alive,
    held_item_ids,
    processes,
    worker_is_alive,
)
from reviewapp.core.health.services import (
    heartbeat_beat,
    heartbeat_forget,
    heartbeat_restart_record,
    heartbeats_prune,
    sweep_run_finished,
    sweep_run_started,
)

NOW = timezone.now().replace(microsecond=0)


def beat(name, kind=ProcessKind.WORKER, holding=()):
    return heartbeat_beat(
        name=name, kind=kind, hostname="host-a", pid=4242, started_at=NOW, holding=holding
    )


def test_a_heartbeat_is_one_row_per_process_rewritten_each_beat(db):
    with time_machine.travel(NOW, tick=False):
        beat("celery@host-a", holding=[3, 1, 3])
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        beat("celery@host-a", holding=[7])
    row = Heartbeat.objects.get()
    assert row.seen_at == NOW + timedelta(seconds=5)
    assert row.holding == [7]


def test_items_count_as_held_only_while_their_worker_is_alive(db, settings):
    settings.REVIEWAPP_HEARTBEAT_STALE_SECONDS = 20
    with time_machine.travel(NOW, tick=False):
        beat("celery@host-a", holding=[1, 2])
        beat("celery@host-b", holding=[3])
        beat("beat@host-a", kind=ProcessKind.BEAT)
    with time_machine.travel(NOW + timedelta(seconds=15), tick=False):
        beat("celery@host-b", holding=[3, 4])
        assert held_item_ids() == {1, 2, 3, 4}
        assert worker_is_alive() and beat_is_alive()
    with time_machine.travel(NOW + timedelta(seconds=25), tick=False):
        # host-a's worker and beat went silent: what it held is no longer held.
        assert held_item_ids() == {3, 4}
        states = {state.heartbeat.name: state.alive for state in processes()}
        assert states == {"celery@host-a": False, "celery@host-b": True, "beat@host-a": False}
        assert not beat_is_alive()


def test_a_worker_restarted_under_its_name_no_longer_holds_what_the_dead_one_held(db):
    with time_machine.travel(NOW, tick=False):
        beat("celery@host-a", holding=[1, 2])
    with time_machine.travel(NOW + timedelta(seconds=3), tick=False):
        beat("celery@host-a", holding=[])
        assert held_item_ids() == set()


def test_a_restart_is_counted_with_how_the_process_ended(db):
    with time_machine.travel(NOW, tick=False):
        heartbeat_restart_record(
            name="celery@host-a", kind=ProcessKind.WORKER, hostname="host-a", exit_status="killed"
        )
        created = Heartbeat.objects.get()
        assert (created.restarts, created.last_exit) == (1, "killed")
        assert not worker_is_alive(), "a restart is not a sign of life"
        beat("celery@host-a")
        heartbeat_restart_record(
            name="celery@host-a", kind=ProcessKind.WORKER, hostname="host-a", exit_status="exit 1"
        )
    row = Heartbeat.objects.get()
    assert (row.restarts, row.last_exit, row.restarted_at) == (2, "exit 1", NOW)


def test_a_clean_stop_forgets_the_process_and_old_silence_is_pruned(db):
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        beat("celery@retired")
    beat("celery@host-a")
    beat("celery@host-b")
    heartbeat_forget(name="celery@host-b")
    assert heartbeats_prune(older_than=timedelta(days=1)) == 1
    assert list(Heartbeat.objects.values_list("name", flat=True)) == ["celery@host-a"]


def test_a_sweep_run_records_its_start_its_end_and_what_it_did(db):
    with time_machine.travel(NOW, tick=False):
        sweep_run_started(name="sla.sweep")
        running = SweepRun.objects.get()
        assert (running.runs, running.succeeded, running.finished_at) == (1, None, None)
    with time_machine.travel(NOW + timedelta(seconds=2), tick=False):
        sweep_run_finished(name="sla.sweep", succeeded=True, summary="at risk 2, breached 0")
        sweep_run_started(name="sla.sweep")
        sweep_run_finished(name="sla.sweep", succeeded=False, summary="x" * 900)
    run = SweepRun.objects.get()
    assert run.runs == 2
    assert run.succeeded is False
    assert len(run.summary) == 500
