"""The audit trail: hash-chained per workflow shard, append-only in PostgreSQL, verified by a
command."""

import json
import threading
import time
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import (
    GENESIS_HASH,
    AuditEntry,
    _hash_of,
    audit_record,
    audit_record_many,
)

TRIGGER = "audit_event_append_only"


def chain_of(name, shard=None):
    """The events of one shard of the chain (by default the shard of its first event)."""
    events = AuditEvent.objects.filter(chain=name)
    if shard is None:
        shard = events.order_by("id").values_list("shard", flat=True).first()
    return list(events.filter(shard=shard).order_by("seq"))


def as_dba(sql, params=()):
    """Run SQL as someone who can switch the append-only trigger off; it is on again after."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE audit_auditevent DISABLE TRIGGER {TRIGGER}")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute(f"ALTER TABLE audit_auditevent ENABLE TRIGGER {TRIGGER}")


def trigger_enabled():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = %s "
            "AND tgrelid = 'audit_auditevent'::regclass",
            [TRIGGER],
        )
        return cursor.fetchone() == ("O",)


@pytest.fixture
def trail(demo):
    """The demo workflow's chain with a few more events: at least five in a row."""
    with transaction.atomic():
        for number in range(3):
            audit_record(
                action="test.note",
                obj=demo.workflow,
                chain=demo.workflow.audit_chain,
                data={"n": number},
            )
    events = chain_of(demo.workflow.audit_chain)
    assert len(events) >= 5
    return events


def verify():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


# --- writing ----------------------------------------------------------------------------------


def test_it_chains_the_events_of_each_workflow(demo, other_team):
    with transaction.atomic():
        audit_record(action="test.one", obj=demo.workflow, chain=demo.workflow.audit_chain)
        audit_record(
            action="test.other",
            obj=other_team["workflow"],
            chain=other_team["workflow"].audit_chain,
        )
        audit_record(
            action="test.two", obj=demo.workflow, chain=demo.workflow.audit_chain, data={"n": 2}
        )

    for name in (demo.workflow.audit_chain, other_team["workflow"].audit_chain, "system"):
        events = chain_of(name)
        assert len(events) >= 2, name
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
        assert events[0].prev_hash == GENESIS_HASH
        for previous, event in pairwise(events):
            assert event.prev_hash == previous.hash
    ours = chain_of(demo.workflow.audit_chain)
    assert [event.action for event in ours[-2:]] == ["test.one", "test.two"]
    assert ours[-1].seq == ours[-2].seq + 1
    assert len({event.hash for event in AuditEvent.objects.all()}) == AuditEvent.objects.count()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction(demo):
    count = AuditEvent.objects.count()

    with pytest.raises(RuntimeError, match="transaction"):
        audit_record(action="test.loose", obj=demo.workflow, chain=demo.workflow.audit_chain)

    assert AuditEvent.objects.count() == count


def test_verify_audit_reports_an_intact_trail(demo, reviewer):
    output = verify()

    assert "Audit trail intact" in output
    assert f"{AuditEvent.objects.count()} events" in output


# --- the database refuses edits ---------------------------------------------------------------


def test_the_database_refuses_to_edit_an_event(demo):
    event = chain_of(demo.workflow.audit_chain)[0]

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(data={"forged": True})

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [event.pk])

    event.refresh_from_db()
    assert event.data != {"forged": True}
    assert event.action != "x"


def test_the_database_refuses_to_delete_an_event(demo):
    event = chain_of(demo.workflow.audit_chain)[0]

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- verification catches what a DBA did with the trigger off ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_verify_audit_names_the_event_a_dba_changed(demo, trail):
    target = trail[2]
    assert "Audit trail intact" in verify()

    as_dba(
        "UPDATE audit_auditevent SET data = %s WHERE id = %s",
        [json.dumps({"forged": True}), target.pk],
    )

    assert trigger_enabled()
    with pytest.raises(CommandError) as broken:
        verify()
    message = str(broken.value)
    assert f"'{demo.workflow.audit_chain}'" in message
    assert f"#{target.seq} (id {target.pk})" in message
    assert "changed after it was written" in message


@pytest.mark.django_db(transaction=True)
def test_verify_audit_notices_a_deleted_event(demo, trail):
    missing = trail[2]

    as_dba("DELETE FROM audit_auditevent WHERE id = %s", [missing.pk])

    assert trigger_enabled()
    with pytest.raises(CommandError) as broken:
        verify()
    message = str(broken.value)
    assert f"'{demo.workflow.audit_chain}'" in message
    assert f"event #{missing.seq} is missing" in message


@pytest.mark.django_db(transaction=True)
def test_verify_audit_notices_an_event_rehashed_after_an_edit(demo, trail):
    """A forger who recomputes the edited event's own hash still breaks the next link."""
    target, following = trail[2], trail[3]
    target.data = {"forged": True}
    forged_hash = _hash_of(target)

    as_dba(
        "UPDATE audit_auditevent SET data = %s, hash = %s WHERE id = %s",
        [json.dumps(target.data), forged_hash, target.pk],
    )

    with pytest.raises(CommandError) as broken:
        verify()
    message = str(broken.value)
    assert f"'{demo.workflow.audit_chain}'" in message
    assert f"#{following.seq} (id {following.pk})" in message
    assert "does not link to the previous event" in message


@pytest.mark.django_db(transaction=True)
def test_the_trigger_is_back_on_after_a_dba_session(demo):
    event = chain_of(demo.workflow.audit_chain)[0]
    as_dba("SELECT 1")

    with pytest.raises(DatabaseError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")


# --- shards -----------------------------------------------------------------------------------


def test_a_batch_of_events_is_one_hash_linked_run_of_a_shard(demo, other_team):
    items = [demo.workflow, other_team["workflow"], demo.queue]
    with transaction.atomic():
        before = audit_record(action="test.before", obj=demo.workflow, chain="test:batch")
        written = audit_record_many(
            [AuditEntry(action="test.many", obj=obj, data={"n": n}) for n, obj in enumerate(items)],
            chain="test:batch",
        )

    stored = chain_of("test:batch", before.shard)
    assert [event.pk for event in stored] == [before.pk, *(event.pk for event in written)]
    assert [event.seq for event in stored] == [1, 2, 3, 4]
    for previous, event in pairwise(stored):
        assert event.prev_hash == previous.hash
        assert _hash_of(event) == event.hash
    assert [event.data for event in stored[1:]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert "Audit trail intact" in verify()


def _hold_a_shard(chain, obj, holding, release, shards):
    """In a thread: record an event and keep the transaction (and its shard) open."""
    from django.db import connection as thread_connection

    try:
        with transaction.atomic():
            shards.append(audit_record(action="test.holder", obj=obj, chain=chain).shard)
            holding.set()
            release.wait(timeout=20)
    finally:
        thread_connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_writer_does_not_wait_for_another_transaction_of_the_same_workflow(demo, settings):
    settings.REVIEWAPP_AUDIT_SHARDS = 4
    chain = demo.workflow.audit_chain
    holding, release, shards = threading.Event(), threading.Event(), []
    holder = threading.Thread(
        target=_hold_a_shard, args=(chain, demo.workflow, holding, release, shards)
    )
    holder.start()
    try:
        assert holding.wait(timeout=20)
        # The holder's shard is locked until it commits; this append must not queue behind it.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            mine = audit_record(action="test.meanwhile", obj=demo.workflow, chain=chain)
    finally:
        release.set()
        holder.join(timeout=20)
    assert not holder.is_alive()
    assert mine.shard != shards[0]
    assert "Audit trail intact" in verify()


@pytest.mark.django_db(transaction=True)
def test_verify_audit_names_a_forged_event_in_any_shard(demo, settings):
    settings.REVIEWAPP_AUDIT_SHARDS = 4
    chain = demo.workflow.audit_chain
    holding, release, shards = threading.Event(), threading.Event(), []
    holder = threading.Thread(
        target=_hold_a_shard, args=(chain, demo.workflow, holding, release, shards)
    )
    holder.start()
    try:
        assert holding.wait(timeout=20)
        with transaction.atomic():
            audit_record(action="test.first", obj=demo.workflow, chain=chain)
            second = audit_record(action="test.second", obj=demo.workflow, chain=chain)
    finally:
        release.set()
        holder.join(timeout=20)
    assert second.shard != shards[0]
    assert AuditEvent.objects.filter(chain=chain).values("shard").distinct().count() >= 2
    assert "Audit trail intact" in verify()

    as_dba(
        "UPDATE audit_auditevent SET data = %s WHERE id = %s",
        [json.dumps({"forged": True}), second.pk],
    )

    with pytest.raises(CommandError) as broken:
        verify()
    message = str(broken.value)
    assert f"'{chain}' (shard {second.shard})" in message
    assert f"#{second.seq} (id {second.pk})" in message
    assert "changed after it was written" in message


@pytest.mark.django_db(transaction=True)
def test_moving_an_event_to_another_shard_breaks_its_hash(demo, trail):
    target = trail[-1]
    as_dba("UPDATE audit_auditevent SET shard = shard + 1 WHERE id = %s", [target.pk])

    # Its old shard still ends cleanly one event early; the shard it landed in has a hole.
    with pytest.raises(CommandError, match=r"\(shard \d+\) is broken at event #1"):
        verify()


def _append_when_free(chain, obj, appended, errors):
    """In a thread: append one event, waiting for the shard if it is held."""
    from django.db import connection as thread_connection

    try:
        with transaction.atomic():
            appended.append(audit_record(action="test.waiter", obj=obj, chain=chain))
    except Exception as exc:  # reported by the test
        errors.append(exc)
    finally:
        thread_connection.close()


def _waiting_on_an_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event = 'advisory' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_writer_that_waited_for_the_shard_links_to_what_its_holder_committed(demo, settings):
    # One shard: the second writer must wait, and must then see the holder's event, although
    # it asked for the shard before that event was committed (audit_shard_take reads the last
    # event in a statement of its own, after the lock).
    settings.REVIEWAPP_AUDIT_SHARDS = 1
    chain = demo.workflow.audit_chain
    holding, release, shards = threading.Event(), threading.Event(), []
    holder = threading.Thread(
        target=_hold_a_shard, args=(chain, demo.workflow, holding, release, shards)
    )
    appended, errors = [], []
    waiter = threading.Thread(
        target=_append_when_free, args=(chain, demo.workflow, appended, errors)
    )
    holder.start()
    try:
        assert holding.wait(timeout=20)
        waiter.start()
        for _ in range(200):  # poll (up to 10 s) until the second writer queues for the lock
            if _waiting_on_an_advisory_lock():
                break
            time.sleep(0.05)
        else:
            pytest.fail("The second writer never waited for the shard.")
    finally:
        release.set()
        holder.join(timeout=20)
        waiter.join(timeout=20)
    assert not holder.is_alive() and not waiter.is_alive()
    assert errors == []
    held = AuditEvent.objects.get(chain=chain, action="test.holder")
    (mine,) = appended
    assert (mine.shard, mine.seq, mine.prev_hash) == (held.shard, held.seq + 1, held.hash)
    assert "Audit trail intact" in verify()
