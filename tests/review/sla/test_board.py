"""The managers' SLA board, its drill-down, the weekly report and the manager task actions.

The board scenario opens, claims and decides tasks of the demo queue at controlled times and
sets the SLA columns the sweep would set; the expected figures are computed here, in Python,
from the scenario itself and never from the database.
"""

import csv
import io
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.corrections.services import reason_codes_for
from reviewapp.review.quality.services import gold_item_add, queue_quality_set
from reviewapp.review.reviews.assignments import (
    TaskActionInvalid,
    TaskStateConflict,
    review_task_reassign,
    review_task_unassign,
    review_tasks_bulk_assign,
)
from reviewapp.review.reviews.claims import ClaimLost, review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.eligibility import CLAIM_ORDER
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskStatus
from reviewapp.review.reviews.queues import queue_create
from reviewapp.review.sla.board import (
    HISTOGRAM_BOUNDS,
    OPEN_FIGURES_MAX_AGE,
    SERIES_DAYS,
    queue_boards,
)
from workflows.demo.tickets import LABELS

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # a Tuesday, ISO week 2026-W48
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def browser(user):
    client = Client()
    client.force_login(user)
    return client


@dataclass(frozen=True)
class Decided:
    opened: datetime
    decided: datetime
    outcome: str
    due: datetime | None = None
    breached: datetime | None = None


DECIDED = [
    Decided(NOW - 40 * MINUTE, NOW - 10 * MINUTE, "accept", due=NOW),
    Decided(NOW - 3 * HOUR, NOW - 40 * MINUTE, "correct", due=NOW - 2 * HOUR),
    Decided(NOW - 5 * HOUR, NOW - 2 * HOUR, "reject", due=NOW - 4 * HOUR, breached=NOW - 4 * HOUR),
    Decided(NOW - 26 * HOUR, NOW - 20 * HOUR, "accept", due=NOW - 10 * HOUR),
    Decided(
        NOW - 3 * DAY,
        NOW - 2 * DAY - HOUR,
        "accept",
        due=NOW - 2 * DAY,
        breached=NOW - 2 * DAY - 2 * HOUR,
    ),
    Decided(NOW - 20 * DAY, NOW - 16 * DAY, "correct"),
    Decided(NOW - 2 * MINUTE, NOW - MINUTE, "accept"),
]


def decide(task, reviewer, manager, outcome):
    """Hand the task to the reviewer (a manager's assignment) and decide it through the service."""
    task = review_task_reassign(task=task, to_reviewer=reviewer, acting_user=manager)
    workflow = task.queue.workflow
    codes = [code.code for code in reason_codes_for(workflow, outcome)][:1]
    output = None
    if outcome == "correct":
        model_label = task.item.prediction.output["label"]
        output = {"label": next(label for label in LABELS if label != model_label)}
    review_task_decide(
        task=task,
        reviewer=reviewer,
        claim_token=task.claim_token,
        outcome=outcome,
        output=output,
        reason_codes=codes if outcome != "accept" else [],
    )


@pytest.fixture
def scenario(demo, routed_items, reviewer, second_reviewer, manager):
    """Decided, claimed, at-risk, breached and open tasks, and their expected figures."""
    with time_machine.travel(NOW - 30 * DAY, tick=False):
        routed_items(count=120, seed=3)
    tasks = list(ReviewTask.objects.filter(queue=demo.queue).order_by("pk"))
    assert len(tasks) >= len(DECIDED) + 8, "the demo must route enough tickets to review"
    decided_tasks, live = tasks[: len(DECIDED)], tasks[len(DECIDED) :]

    for task, plan in zip(decided_tasks, DECIDED, strict=True):
        ReviewTask.objects.filter(pk=task.pk).update(created_at=plan.opened, due_at=plan.due)
        with time_machine.travel(plan.decided, tick=False):
            decide(ReviewTask.objects.get(pk=task.pk), reviewer, manager, plan.outcome)
        if plan.breached:
            ReviewTask.objects.filter(pk=task.pk).update(breached_at=plan.breached)

    # Open tasks waited between 1 and len(live) hours; the first one two days.
    opened = {task.pk: NOW - (index + 1) * HOUR for index, task in enumerate(live)}
    opened[live[0].pk] = NOW - 2 * DAY
    for pk, when in opened.items():
        ReviewTask.objects.filter(pk=pk).update(created_at=when)

    with time_machine.travel(NOW - 5 * MINUTE, tick=False):
        claimed = [review_task_claim(queue=demo.queue, reviewer=second_reviewer)]
    with time_machine.travel(NOW - 4 * MINUTE, tick=False):
        claimed.append(review_task_claim(queue=demo.queue, reviewer=reviewer))
    claimed_ids = {task.pk for task in claimed}
    # The sweep's marks: two at risk only (one of them claimed), one breached after being at
    # risk, one breached without an at-risk mark (the sweep can set both in one pass).
    unclaimed = [task.pk for task in live if task.pk not in claimed_ids]
    at_risk_only = [next(iter(claimed_ids)), unclaimed[0]]
    breached_live = {unclaimed[1]: NOW - 3 * HOUR, unclaimed[2]: NOW - 26 * HOUR}
    ReviewTask.objects.filter(pk__in=at_risk_only).update(at_risk_at=NOW - 30 * MINUTE)
    ReviewTask.objects.filter(pk=unclaimed[1]).update(
        at_risk_at=NOW - 4 * HOUR, breached_at=breached_live[unclaimed[1]]
    )
    ReviewTask.objects.filter(pk=unclaimed[2]).update(breached_at=breached_live[unclaimed[2]])

    last_day = [d for d in DECIDED if d.decided >= NOW - DAY]
    days = [(NOW - back * DAY).date() for back in range(SERIES_DAYS - 1, -1, -1)]
    recent = [d for d in DECIDED if d.decided.date() >= days[0]]
    breach_times = [d.breached for d in DECIDED if d.breached] + list(breached_live.values())
    histogram = [0] * len(HISTOGRAM_BOUNDS)
    for d in recent:
        elapsed = d.decided - d.opened
        histogram[
            next(
                i
                for i, (_, upper) in enumerate(HISTOGRAM_BOUNDS)
                if upper is None or elapsed < upper
            )
        ] += 1
    open_ids = set(opened) - claimed_ids
    return {
        "open": len(open_ids),
        "claimed": len(claimed_ids),
        "at_risk": len(at_risk_only),
        "breached": len(breached_live),
        "oldest_open_age": NOW - min(opened[pk] for pk in open_ids),
        "decided_last_hour": sum(d.decided >= NOW - HOUR for d in DECIDED),
        "decided_last_day": len(last_day),
        "median": statistics.median(d.decided - d.opened for d in last_day),
        "override_rate": sum(d.outcome != "accept" for d in last_day) / len(last_day),
        "days": days,
        "decisions_per_day": [sum(d.decided.date() == day for d in DECIDED) for day in days],
        "breaches_per_day": [sum(t.date() == day for t in breach_times) for day in days],
        "histogram": histogram,
    }


def test_board_figures_equal_the_scenario(scenario, demo, manager):
    with time_machine.travel(NOW, tick=False):
        (board,) = queue_boards(Queue.objects.filter(pk=demo.queue.pk))

    assert (board.open, board.claimed, board.at_risk, board.breached) == (
        scenario["open"],
        scenario["claimed"],
        scenario["at_risk"],
        scenario["breached"],
    )
    assert board.oldest_open_age == scenario["oldest_open_age"]
    assert board.throughput_per_hour == scenario["decided_last_hour"] == 3
    assert board.decided_last_day == scenario["decided_last_day"]
    assert board.median_time_to_decision == scenario["median"]
    assert board.override_rate == pytest.approx(scenario["override_rate"])
    assert board.days == scenario["days"]
    assert board.decisions_per_day == scenario["decisions_per_day"]
    assert board.breaches_per_day == scenario["breaches_per_day"]
    assert [count for _, count in board.time_to_decision_histogram] == scenario["histogram"]


def test_the_series_counts_an_ended_day_once_and_stays_exact_across_midnight(
    scenario, demo, manager, reviewer
):
    with time_machine.travel(NOW, tick=False):
        queue_boards([demo.queue])  # counts (and keeps) the ended days
    task = ReviewTask.objects.filter(queue=demo.queue, status="open").order_by("pk").first()
    with time_machine.travel(NOW + MINUTE, tick=False):
        decide(task, reviewer, manager, "accept")  # today, after the first count
    decided = [(d.opened, d.decided) for d in DECIDED] + [(task.created_at, NOW + MINUTE)]
    later = NOW + DAY + 2 * HOUR  # the scenario's day has ended, past the margin

    with time_machine.travel(later, tick=False):
        (board,) = queue_boards([demo.queue])
    with (
        time_machine.travel(later + MINUTE, tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        (again,) = queue_boards([demo.queue])

    days = [(later - back * DAY).date() for back in range(SERIES_DAYS - 1, -1, -1)]
    recent = [
        elapsed for opened, at in decided if at.date() >= days[0] for elapsed in [at - opened]
    ]
    histogram = [
        sum(
            (lower is None or elapsed >= lower) and (upper is None or elapsed < upper)
            for elapsed in recent
        )
        for lower, upper in zip(
            [None] + [upper for _, upper in HISTOGRAM_BOUNDS[:-1]],
            [upper for _, upper in HISTOGRAM_BOUNDS],
            strict=True,
        )
    ]
    for figures in (board, again):
        assert figures.days == days
        assert figures.decisions_per_day == [
            sum(at.date() == day for _, at in decided) for day in days
        ]
        assert [count for _, count in figures.time_to_decision_histogram] == histogram
    # Once every ended day is kept, a poll counts the decisions of today only.
    (series,) = [q["sql"] for q in queries.captured_queries if "CASE WHEN" in q["sql"]]
    assert f"'{later.date()} 00:00:00+00:00'" in series


def test_the_override_rate_counts_the_last_days_overrides_of_real_work_only(
    demo, routed_items, reviewer, manager
):
    # Overrides are counted from the decisions and gold from its showings, apart from the
    # day's decisions: both must keep exactly the 24-hour window and leave gold out.
    queue_quality_set(queue=demo.queue, acting_user=manager, gold_rate=1.0)
    gold_item_add(
        queue=demo.queue,
        acting_user=manager,
        input={"subject": "Refund not received", "body": "Charged twice.", "customer_tier": "pro"},
        expected_output={"label": "billing"},
        proposed_output={"label": "billing"},
    )
    with time_machine.travel(NOW - 30 * DAY, tick=False):
        routed_items(count=40, seed=3)
    tasks = ReviewTask.objects.filter(queue=demo.queue).order_by("pk")
    real = list(tasks.filter(gold__isnull=True)[:4])
    gold = list(tasks.filter(gold__isnull=False)[:2])
    assert len(real) == 4 and len(gold) == 2, "the demo must route tickets and mix in gold"
    plan = [
        (real[0], NOW - 24 * HOUR - MINUTE, "correct"),  # just before the window
        (real[1], NOW - 24 * HOUR + MINUTE, "reject"),
        (real[2], NOW - 3 * HOUR, "accept"),
        (real[3], NOW - 10 * MINUTE, "correct"),
        (gold[0], NOW - 2 * HOUR, "correct"),  # a wrong answer on gold is no model override
        (gold[1], NOW - 25 * HOUR, "accept"),
    ]
    for task, when, outcome in plan:
        with time_machine.travel(when, tick=False):
            decide(ReviewTask.objects.get(pk=task.pk), reviewer, manager, outcome)

    with time_machine.travel(NOW, tick=False):
        (board,) = queue_boards([demo.queue])

    assert board.decided_last_day == 4  # three real decisions and one gold in the window
    assert board.decided_last_hour == 1
    assert (board.overridden_last_day, board.model_checked_last_day) == (2, 3)
    assert board.override_rate == pytest.approx(2 / 3)


def test_the_board_page_shows_the_figures_in_a_pinned_number_of_queries(
    scenario, demo, manager, django_assert_max_num_queries
):
    # A second managed queue costs no extra query: every figure is grouped by queue (the
    # selector's seven queries, the session, the user, the managed queues and the roles the top
    # bar's links follow).
    queue_create(team=demo.team, workflow=demo.workflow, slug="second-line", name="Second line")
    client = browser(manager)
    client.get("/board/")  # the session and the user, loaded once per request
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(11):
        response = client.get("/board/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-testid="open">{scenario["open"]}<' in html
    assert f'data-testid="breached">{scenario["breached"]}<' in html
    assert 'data-testid="throughput">3<' in html
    assert f'data-testid="override-rate">{scenario["override_rate"]:.0%}<' in html
    assert 'data-testid="median">2 h 20 min<' in html
    assert html.count('role="img"') == 6  # three charts per queue
    assert "Second line" in html
    assert "decisions per day, last 14 days</title>" in html


def test_an_htmx_poll_gets_only_the_queues_fragment(demo, manager):
    response = browser(manager).get("/board/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="board-queues"')
    assert "<html" not in html
    assert 'hx-trigger="every 5s"' in html


def test_someone_who_manages_no_queue_sees_an_empty_board(demo, reviewer):
    response = browser(reviewer).get("/board/")
    assert response.status_code == 200
    assert "You do not manage any queue" in response.content.decode()
    # No board to keep live (the page's only poll is the stall banner every page has).
    assert 'hx-get="/board/"' not in response.content.decode()
    assert 'hx-trigger="every 5s"' not in response.content.decode()


@pytest.mark.parametrize("who", ["reviewer", "outsider"])
def test_the_drill_down_and_report_of_a_queue_you_do_not_manage_are_404(demo, who, request):
    client = browser(request.getfixturevalue(who))
    assert client.get(f"/board/queues/{demo.queue.pk}/").status_code == 404
    assert client.get(f"/board/queues/{demo.queue.pk}/sla-report.csv").status_code == 404


def test_the_drill_down_filters_tasks_by_sla_state(scenario, demo, manager):
    client = browser(manager)
    with time_machine.travel(NOW, tick=False):
        breached = client.get(f"/board/queues/{demo.queue.pk}/?state=breached")
        claimed = client.get(f"/board/queues/{demo.queue.pk}/?state=claimed")
    assert breached.status_code == 200
    assert breached.content.decode().count("<tr data-task=") == scenario["breached"]
    assert claimed.content.decode().count("<tr data-task=") == scenario["claimed"]


def test_the_drill_down_header_shows_the_live_figures_without_reading_decisions(
    scenario, demo, manager
):
    client = browser(manager)
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as queries:
        html = client.get(f"/board/queues/{demo.queue.pk}/").content.decode()

    assert f"{scenario['open']} open (counted" in html
    assert (
        f"{scenario['claimed']} claimed · {scenario['at_risk']} at risk · "
        f"{scenario['breached']} breached"
    ) in html
    # The header shows no decision figure: the decided history (which only grows) is not read.
    assert not [q["sql"] for q in queries.captured_queries if "'decided'" in q["sql"]]


def test_the_drill_down_lists_at_risk_tasks_and_a_reviewers_claims(
    scenario, demo, manager, reviewer
):
    client = browser(manager)
    with time_machine.travel(NOW, tick=False):
        at_risk = client.get(f"/board/queues/{demo.queue.pk}/?state=at_risk")
        held = client.get(f"/board/queues/{demo.queue.pk}/?reviewer={reviewer.pk}")
        held_open = client.get(f"/board/queues/{demo.queue.pk}/?state=open&reviewer={reviewer.pk}")

    assert at_risk.content.decode().count("<tr data-task=") == scenario["at_risk"] == 2
    holder = ReviewTask.objects.get(queue=demo.queue, status="claimed", claimed_by=reviewer)
    rows = held.content.decode()
    assert rows.count("<tr data-task=") == 1
    assert f'<tr data-task="{holder.pk}"' in rows
    assert held_open.content.decode().count("<tr data-task=") == 0


def test_the_pages_reuse_an_open_count_for_a_few_seconds_and_say_when_it_was_counted(
    scenario, demo, manager
):
    client = browser(manager)
    drill_down = f"/board/queues/{demo.queue.pk}/"
    with time_machine.travel(NOW, tick=False):
        first = client.get("/board/").content.decode()
    # A task leaves the open ones (cancelled) right after the count.
    gone = ReviewTask.objects.filter(queue=demo.queue, status="open").order_by("pk").first()
    ReviewTask.objects.filter(pk=gone.pk).update(status=TaskStatus.CANCELLED)
    with time_machine.travel(NOW + timedelta(seconds=OPEN_FIGURES_MAX_AGE - 1), tick=False):
        reused = client.get("/board/").content.decode()
        reused_drill_down = client.get(drill_down).content.decode()
        (exact,) = queue_boards([demo.queue])  # the selector itself counts unless asked not to
    with time_machine.travel(NOW + timedelta(seconds=OPEN_FIGURES_MAX_AGE + 1), tick=False):
        recounted = client.get("/board/").content.decode()

    assert f'data-testid="open">{scenario["open"]}<' in first
    assert f'data-testid="open">{scenario["open"]}<' in reused
    assert re.search(r'data-testid="open-counted-at"><time [^>]*>12:00:00 UTC<', reused)
    assert "recounted at most every 5 seconds" in reused
    assert f"{scenario['open']} open (counted" in reused_drill_down
    assert exact.open == scenario["open"] - 1
    assert f'data-testid="open">{scenario["open"] - 1}<' in recounted
    assert re.search(r'data-testid="open-counted-at"><time [^>]*>12:00:06 UTC<', recounted)


def test_an_open_count_from_a_clock_that_ran_ahead_is_not_reused(scenario, demo, manager):
    client = browser(manager)
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        client.get("/board/")
    gone = ReviewTask.objects.filter(queue=demo.queue, status="open").order_by("pk").first()
    ReviewTask.objects.filter(pk=gone.pk).update(status=TaskStatus.CANCELLED)

    with time_machine.travel(NOW, tick=False):
        html = client.get("/board/").content.decode()

    assert f'data-testid="open">{scenario["open"] - 1}<' in html


def test_the_weekly_report_counts_met_and_breached_per_iso_week(scenario, demo, manager):
    demo.queue.name = '=HYPERLINK("http://evil")'
    demo.queue.save()
    with time_machine.travel(NOW, tick=False):
        response = browser(manager).get(f"/board/queues/{demo.queue.pk}/sla-report.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["queue", "iso_week", "decided", "met", "breached", "met_percent"]
    # Expected from DECIDED: W48 holds the four decided since Monday 23 Nov (two met, one
    # breached by the sweep, one decided after its due time) plus one without a clock; W47
    # one breached; W45 one without a clock.
    body = {row[1]: row for row in rows[1:]}
    assert set(body) == {"2026-W45", "2026-W47", "2026-W48"}
    assert body["2026-W48"][2:] == ["5", "2", "2", "50.0"]
    assert body["2026-W47"][2:] == ["1", "0", "1", "0.0"]
    assert body["2026-W45"][2:] == ["1", "0", "0", ""]
    assert all(row[0] == '\'=HYPERLINK("http://evil")' for row in rows[1:])


# --- manager actions ----------------------------------------------------------------------------


@pytest.fixture
def open_tasks(routed_items, demo):
    routed_items(count=40, seed=5)
    tasks = list(
        ReviewTask.objects.filter(queue=demo.queue, status=TaskStatus.OPEN).order_by(*CLAIM_ORDER)
    )
    assert len(tasks) >= 4
    return tasks


def test_a_reassigned_task_refuses_the_previous_holders_late_decision(
    open_tasks, demo, manager, reviewer, second_reviewer, api
):
    held = review_task_claim(queue=demo.queue, reviewer=reviewer)
    old_token = held.claim_token

    response = api(manager).post(
        f"/api/v1/tasks/{held.pk}/assign", {"reviewer": "bob"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["claimed_by"] == "bob"
    task = ReviewTask.objects.get(pk=held.pk)
    assert (task.status, task.claimed_by, task.claim_token == old_token) == (
        TaskStatus.CLAIMED,
        second_reviewer,
        False,
    )
    late = api(reviewer).post(
        f"/api/v1/tasks/{held.pk}/decision",
        {"claim_token": str(old_token), "outcome": "accept"},
        format="json",
    )
    assert late.status_code == 409
    with pytest.raises(ClaimLost):
        review_task_decide(task=task, reviewer=reviewer, claim_token=old_token, outcome="accept")
    review_task_decide(
        task=task, reviewer=second_reviewer, claim_token=task.claim_token, outcome="accept"
    )
    event = AuditEvent.objects.get(action="task.reassigned", object_id=str(held.pk))
    assert (event.actor_label, event.data["to"], event.data["previous_holder"]) == (
        "maria",
        "bob",
        "alice",
    )


def test_assigning_to_someone_who_cannot_review_the_queue_is_a_field_error(
    open_tasks, manager, outsider, api
):
    task = open_tasks[0]
    for username in ("oscar", "nobody-of-that-name"):
        response = api(manager).post(
            f"/api/v1/tasks/{task.pk}/assign", {"reviewer": username}, format="json"
        )
        assert response.status_code == 400
        assert "reviewer" in response.json()["errors"]
    missing = api(manager).post(f"/api/v1/tasks/{task.pk}/assign", {}, format="json")
    assert missing.status_code == 400 and "reviewer" in missing.json()["errors"]
    assert ReviewTask.objects.get(pk=task.pk).status == TaskStatus.OPEN
    with pytest.raises(TaskActionInvalid):
        review_task_reassign(task=task, to_reviewer=outsider, acting_user=manager)


def test_only_a_manager_of_the_queue_may_assign_or_unassign(open_tasks, reviewer, outsider, api):
    task = open_tasks[0]
    for user in (reviewer, outsider):
        assign = api(user).post(
            f"/api/v1/tasks/{task.pk}/assign", {"reviewer": "bob"}, format="json"
        )
        unassign = api(user).post(f"/api/v1/tasks/{task.pk}/unassign")
        assert (assign.status_code, unassign.status_code) == (404, 404)
    with pytest.raises(PermissionDenied):
        review_task_unassign(task=task, acting_user=reviewer)
    assert not AuditEvent.objects.filter(action__in=["task.reassigned", "task.unassigned"]).exists()


def test_unassign_puts_a_claimed_task_back_and_the_holder_gets_409(
    open_tasks, demo, manager, reviewer, api
):
    held = review_task_claim(queue=demo.queue, reviewer=reviewer)

    response = api(manager).post(f"/api/v1/tasks/{held.pk}/unassign")

    assert response.status_code == 200
    assert response.json() == {
        "task": held.pk,
        "status": "open",
        "claimed_by": None,
        "lease_expires_at": None,
    }
    late = api(reviewer).post(
        f"/api/v1/tasks/{held.pk}/decision",
        {"claim_token": str(held.claim_token), "outcome": "accept"},
        format="json",
    )
    assert late.status_code == 409
    again = api(manager).post(f"/api/v1/tasks/{held.pk}/unassign")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action="task.unassigned", object_id=str(held.pk)).count() == 1


def test_a_decided_task_cannot_be_reassigned(open_tasks, demo, manager, reviewer, api):
    held = review_task_claim(queue=demo.queue, reviewer=reviewer)
    review_task_decide(task=held, reviewer=reviewer, claim_token=held.claim_token, outcome="accept")
    response = api(manager).post(
        f"/api/v1/tasks/{held.pk}/assign", {"reviewer": "bob"}, format="json"
    )
    assert response.status_code == 409
    with pytest.raises(TaskStateConflict):
        review_task_unassign(task=held, acting_user=manager)


def test_bulk_assign_gives_the_next_open_tasks_in_claim_order(
    open_tasks, demo, manager, second_reviewer, api
):
    response = api(manager).post(
        f"/api/v1/queues/{demo.queue.pk}/assign", {"reviewer": "bob", "count": 3}, format="json"
    )

    assert response.status_code == 200
    expected = [task.pk for task in open_tasks[:3]]
    assert response.json()["assigned"] == expected
    assert set(
        ReviewTask.objects.filter(claimed_by=second_reviewer).values_list("pk", flat=True)
    ) == set(expected)
    assert AuditEvent.objects.filter(action="task.reassigned").count() == 3
    # Bob's next claim serves what he was given, oldest claim first.
    assert review_task_claim(queue=demo.queue, reviewer=second_reviewer).pk in expected
    refused = api(manager).post(
        f"/api/v1/queues/{demo.queue.pk}/assign", {"reviewer": "bob", "count": 0}, format="json"
    )
    assert refused.status_code == 400 and "count" in refused.json()["errors"]
    with pytest.raises(TaskActionInvalid):
        review_tasks_bulk_assign(
            queue=demo.queue, to_reviewer=second_reviewer, count=501, acting_user=manager
        )


def test_the_task_assign_and_unassign_forms_work_without_javascript(
    open_tasks, demo, manager, second_reviewer
):
    client = browser(manager)
    task = open_tasks[0]
    page = client.get(f"/board/queues/{demo.queue.pk}/")
    # The drill-down selects tasks for its bulk actions (tests/review/sla/test_drill_down.py).
    assert f'name="task" value="{task.pk}"' in page.content.decode()

    assigned = client.post(
        f"/board/tasks/{task.pk}/assign", {"reviewer": "bob", "filter_state": "open"}
    )
    assert assigned.status_code == 302
    assert assigned["Location"] == f"/board/queues/{demo.queue.pk}/?state=open"
    assert ReviewTask.objects.get(pk=task.pk).claimed_by == second_reviewer

    unassigned = client.post(f"/board/tasks/{task.pk}/unassign", follow=True)
    assert "is back in the queue" in unassigned.content.decode()
    assert ReviewTask.objects.get(pk=task.pk).status == TaskStatus.OPEN

    bulk = client.post(
        f"/board/queues/{demo.queue.pk}/assign", {"reviewer": "oscar", "count": "2"}, follow=True
    )
    assert "cannot review tasks of this queue" in bulk.content.decode()
    bulk = client.post(
        f"/board/queues/{demo.queue.pk}/assign", {"reviewer": "bob", "count": "2"}, follow=True
    )
    assert "2 open task(s) assigned to bob" in bulk.content.decode()
