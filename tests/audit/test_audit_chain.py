"""The audit trail: hash-chained per workflow, append-only in PostgreSQL, verified by a command."""

import json
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from reviewapp.audit.models import AuditEvent
from reviewapp.audit.services import GENESIS_HASH, _hash_of, audit_record

TRIGGER = "audit_event_append_only"


def chain_of(name):
    return list(AuditEvent.objects.filter(chain=name).order_by("seq"))


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
