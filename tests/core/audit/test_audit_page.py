"""The audit page: filters, keyset pages, exports, bad input and who sees what."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction
from django.test import Client
from django.urls import reverse

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.audit.search import AuditFilter, events_all, events_page
from reviewapp.core.audit.services import AuditEntry, audit_record, audit_record_many

pytestmark = pytest.mark.django_db

MARCH_FIRST_NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def events(demo, manager, reviewer):
    """130 events of the demo workflow at one instant (ties broken by id), one by the manager
    the day before carrying a formula-looking value, and one of another team."""
    workflow = demo.workflow
    with time_machine.travel(MARCH_FIRST_NOON, tick=False), transaction.atomic():
        bulk = audit_record_many(
            [
                AuditEntry(action="item.received", obj=workflow, data={"n": n}, actor=reviewer)
                for n in range(130)
            ],
            chain=workflow.audit_chain,
        )
    day_before = datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    with time_machine.travel(day_before, tick=False), transaction.atomic():
        formula = audit_record(
            action="queue.settings_changed",
            obj=workflow,
            actor=manager,
            chain=workflow.audit_chain,
            data={"note": '=HYPERLINK("http://evil")'},
        )
    return {"bulk": bulk, "formula": formula, "workflow": workflow}


def test_pages_follow_each_other_without_gaps_or_repeats(events):
    chain = events["workflow"].audit_chain
    found = AuditFilter(action="item.*")
    seen, after = [], None
    while True:
        page, after = events_page([chain, "system"], found, after=after, size=40)
        seen += [event.pk for event in page]
        if after is None:
            break
    ours = {event.pk for event in events["bulk"]}
    assert len(seen) == len(set(seen))
    assert ours <= set(seen)
    assert events["formula"].pk not in seen
    assert [e.pk for e in events_all([chain], found)] == seen


def test_the_page_filters_by_actor_object_action_and_local_time(events, manager):
    client = _client(manager)
    client.cookies["tz"] = "Europe/Berlin"
    url = reverse("audit-list")
    formula = events["formula"]

    by_maria = client.get(url, {"actor": "maria"}).content.decode()
    assert f'data-event="{formula.pk}"' in by_maria
    assert f'data-event="{events["bulk"][0].pk}"' not in by_maria

    exact = client.get(url, {"action": "queue.settings_changed"}).content.decode()
    assert exact.count("data-event=") == 1
    obj = client.get(
        url, {"object_type": "workflows.workflow", "object_id": str(events["workflow"].pk)}
    ).content.decode()
    assert obj.count("data-event=") == 50  # a full first page
    assert 'rel="next"' in obj

    # 12:00 UTC is 13:00 in Berlin: a "from" of 12:30 Berlin keeps the bulk, 13:30 drops it.
    kept = client.get(url, {"since": "2026-03-01T12:30", "action": "item.received"})
    assert kept.content.decode().count("data-event=") == 50
    dropped = client.get(url, {"since": "2026-03-01T13:30", "action": "item.received"})
    assert "data-event=" not in dropped.content.decode()
    until = client.get(url, {"until": "2026-03-01T00:00", "actor": "maria"}).content.decode()
    assert f'data-event="{formula.pk}"' in until


def test_the_next_link_pages_through_every_event_once(events, manager):
    client = _client(manager)
    url = reverse("audit-list")
    query = {"actor": "alice", "action": "item.received"}
    seen: list[str] = []
    answer = client.get(url, query, HTTP_HX_REQUEST="true")
    for _ in range(5):
        body = answer.content.decode()
        seen += [part.split('"')[0] for part in body.split('data-event="')[1:]]
        if 'rel="next"' not in body:
            break
        cursor = body.split("after=")[1].split('"')[0]
        answer = client.get(url, query | {"after": cursor}, HTTP_HX_REQUEST="true")
    assert sorted(map(int, seen)) == sorted(event.pk for event in events["bulk"])


def test_exports_hold_the_filtered_rows_and_neutralise_formulas(events, manager):
    client = _client(manager)
    answer = client.get(reverse("audit-csv"), {"actor": "maria"})
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["queue.settings_changed"]
    assert rows[0]["data"].startswith("'{") is False
    assert rows[0]["actor"] == "maria"

    lines = b"".join(client.get(reverse("audit-jsonl"), {"action": "item.*"}).streaming_content)
    records = [json.loads(line) for line in lines.decode().splitlines()]
    assert len(records) == 130
    assert {record["actor"] for record in records} == {"alice"}
    assert records[0]["occurred_at"] == "2026-03-01T12:00:00+00:00"


def test_a_cell_that_starts_like_a_formula_is_made_inert(demo, manager):
    with transaction.atomic():
        audit_record(
            action="=cmd|' /C calc'!A0", obj=demo.workflow, actor=manager,
            chain=demo.workflow.audit_chain,
        )  # fmt: skip
    body = b"".join(
        _client(manager).get(reverse("audit-csv"), {"action": "=cmd*"}).streaming_content
    )
    (row,) = list(csv.DictReader(io.StringIO(body.decode())))
    assert row["action"] == "'=cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    "query, message",
    [
        ({"since": "yesterday"}, "From: Enter a valid date/time."),
        ({"since": "2026-03-02T00:00", "until": "2026-03-01T00:00"}, "later than"),
        ({"after": "not-a-cursor"}, "page link is not valid"),
        ({"after": "MjAyNnxhYmM"}, "page link is not valid"),
        ({"actor": "x" * 500}, "By: Ensure this value has at most 150 characters"),
    ],
)
def test_bad_filters_are_explained_on_the_page(demo, manager, query, message):
    answer = _client(manager).get(reverse("audit-list"), query)
    assert answer.status_code == 400
    assert message in answer.content.decode()
    export = _client(manager).get(reverse("audit-csv"), query)
    assert export.status_code in (200, 302)


def test_another_teams_manager_gets_none_of_our_events(events, other_team, django_user_model):
    boss = django_user_model.objects.create_user(username="claims-boss")
    membership_add(team=other_team["team"], user=boss, role=Role.MANAGER)
    client = _client(boss)
    page = client.get(reverse("audit-list"), {"actor": "alice"}).content.decode()
    assert "data-event=" not in page
    lines = b"".join(client.get(reverse("audit-jsonl")).streaming_content).decode()
    assert "ticket-triage" not in lines
    assert str(events["formula"].pk) not in page
