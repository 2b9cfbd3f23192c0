"""The SLA sweep moved through time: at risk, breached, the escalation ladder, pause and resume.

The demo queue gets a 60-minute round-the-clock policy (warn at 50%) and a ladder:
raise priority at the breach, tell the team lead (maria, the team's manager) 30 minutes later,
move to the escalation queue after 60 and tell the head of support (hank) after 90.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import audit_verify
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_create
from reviewapp.review.reviews.scoring import review_task_claim_score
from reviewapp.review.reviews.tasks import release_expired_claims
from reviewapp.review.sla.clock import review_task_pause, review_task_resume
from reviewapp.review.sla.configuration import (
    business_calendar_save,
    escalation_step_add,
    sla_policy_set,
)
from reviewapp.review.sla.errors import SlaConflict, SlaInvalid
from reviewapp.review.sla.models import Escalation, Notification, NotificationKind
from reviewapp.review.sla.sweep import sla_sweep
from reviewapp.review.sla.tasks import sweep
from workflows.models import Item, Prediction

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # a Monday
MINUTE = timedelta(minutes=1)
# Statements of one sweep in which a batch of tasks turns at risk, breaches and climbs two rungs
# (22 since an audit append takes its shard and reads the last event in one round trip, plus
# the queue's managers, told of each breach in the app).
BURST_QUERIES = 23


@pytest.fixture
def head_of_support(demo):
    return get_user_model().objects.create_user(username="hank", email="hank@example.com")


@pytest.fixture
def escalation_queue(demo):
    return queue_create(
        team=demo.team, workflow=demo.workflow, slug="escalated", name="Escalated tickets"
    )


@pytest.fixture
def ladder(demo, manager, head_of_support, escalation_queue):
    manager.email = "maria@example.com"
    manager.save()
    sla_policy_set(queue=demo.queue, target_minutes=60, warn_at_percent=50)
    return [
        escalation_step_add(
            queue=demo.queue, after_minutes=0, action="raise_priority", priority_boost=10
        ),
        escalation_step_add(queue=demo.queue, after_minutes=30, action="notify_team_lead"),
        escalation_step_add(
            queue=demo.queue,
            after_minutes=60,
            action="move_to_queue",
            target_queue=escalation_queue,
        ),
        escalation_step_add(
            queue=demo.queue, after_minutes=90, action="notify_manager", recipient=head_of_support
        ),
    ]


@pytest.fixture
def items(demo):
    """Three ingested items with a model prediction (the review page and decisions need one)."""
    demo_items_submit(demo, count=3, seed=5)
    items = list(Item.objects.order_by("pk"))
    for item in items:
        Prediction.objects.create(
            item=item,
            model_version=demo.model_version,
            output={"label": "billing"},
            confidence=0.5,
            probabilities={"billing": 0.5},
            latency_ms=1.0,
        )
    return items


@pytest.fixture
def open_at_now(demo, items, ladder):
    """Open one review task per item at NOW, through the service the route step uses."""
    with time_machine.travel(NOW, tick=False):
        return [review_task_open(item=item, queue_slug=demo.queue.slug) for item in items]


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return sla_sweep()


def fresh(task):
    return ReviewTask.objects.get(pk=task.pk)


def actions(name):
    return AuditEvent.objects.filter(action=name).count()


def test_a_task_gets_its_deadlines_from_the_queue_policy(open_at_now):
    task = fresh(open_at_now[0])

    assert (task.warn_at, task.due_at) == (NOW + 30 * MINUTE, NOW + 60 * MINUTE)


def test_a_queue_without_a_policy_gives_no_deadline(demo, items):
    task = review_task_open(item=items[0], queue_slug=demo.queue.slug)

    assert (task.due_at, task.warn_at) == (None, None)
    assert sweep_at(NOW + timedelta(days=30)).breached == 0


def test_deadlines_follow_the_business_calendar(demo, items):
    office = business_calendar_save(
        name="Berlin office",
        time_zone="Europe/Berlin",
        working_hours={day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
    sla_policy_set(queue=demo.queue, target_minutes=120, warn_at_percent=50, calendar=office)

    friday_4pm_berlin = datetime(2026, 6, 5, 14, 0, tzinfo=UTC)
    with time_machine.travel(friday_4pm_berlin, tick=False):
        task = review_task_open(item=items[0], queue_slug=demo.queue.slug)

    assert task.warn_at == datetime(2026, 6, 5, 15, 0, tzinfo=UTC)
    assert task.due_at == datetime(2026, 6, 8, 8, 0, tzinfo=UTC)  # Monday 10:00 in Berlin


def test_nothing_happens_before_the_warning(open_at_now):
    report = sweep_at(NOW + 29 * MINUTE)

    assert (report.at_risk, report.breached, report.escalated) == (0, 0, 0)


def test_past_the_warning_a_task_is_at_risk(open_at_now):
    report = sweep_at(NOW + 31 * MINUTE)

    task = fresh(open_at_now[0])
    assert report.at_risk == 3
    assert task.at_risk_at == NOW + 31 * MINUTE
    assert task.breached_at is None
    assert actions("task.at_risk") == 3


def test_past_due_a_task_is_breached_and_the_first_rung_fires(open_at_now, ladder):
    report = sweep_at(NOW + 61 * MINUTE)

    task = fresh(open_at_now[0])
    assert (report.at_risk, report.breached, report.escalated) == (3, 3, 3)
    assert task.breached_at == NOW + 61 * MINUTE
    assert task.priority == 10
    assert task.escalation_level == 1
    assert task.next_escalation_at == NOW + 90 * MINUTE  # due + 30 minutes: the team lead
    assert list(task.escalations.values_list("step", flat=True)) == [ladder[0].pk]
    assert actions("task.breached") == 3
    assert actions("task.escalated") == 3


def test_later_rungs_fire_as_time_passes(open_at_now, demo, manager, escalation_queue, mailoutbox):
    sweep_at(NOW + 61 * MINUTE)
    lead = sweep_at(NOW + 95 * MINUTE)

    assert lead.escalated == 3
    assert (
        Notification.objects.filter(recipient=manager, kind=NotificationKind.TASK_ESCALATED).count()
        == 3
    )
    assert sorted(message.to[0] for message in mailoutbox) == ["maria@example.com"] * 3
    assert lead.mailed == 3

    moved = sweep_at(NOW + 125 * MINUTE)

    task = fresh(open_at_now[0])
    assert moved.escalated == 3
    assert task.queue == escalation_queue
    # The escalation queue has no ladder of its own, so the last rung of the first one is moot.
    assert task.escalation_level == 3
    assert task.next_escalation_at is None
    assert sweep_at(NOW + 10 * 60 * MINUTE).escalated == 0
    assert audit_verify().broken is None


def test_a_late_sweep_fires_every_rung_that_is_due_in_order(
    open_at_now, head_of_support, mailoutbox, ladder
):
    escalation_step_add(
        queue=ladder[2].target_queue,
        after_minutes=90,
        action="notify_manager",
        recipient=head_of_support,
    )

    report = sweep_at(NOW + 6 * 60 * MINUTE)

    task = fresh(open_at_now[0])
    levels = list(
        Escalation.objects.filter(task=task).order_by("level").values_list("step__action", "level")
    )
    assert levels == [
        ("raise_priority", 1),
        ("notify_team_lead", 2),
        ("move_to_queue", 3),
        ("notify_manager", 4),
    ]
    assert report.escalated == 12
    assert (
        Notification.objects.filter(
            recipient=head_of_support, kind=NotificationKind.TASK_ESCALATED
        ).count()
        == 3
    )


def test_moving_the_clock_back_undoes_nothing(open_at_now):
    sweep_at(NOW + 100 * MINUTE)
    before = list(ReviewTask.objects.order_by("pk").values())
    events = AuditEvent.objects.count()

    report = sweep_at(NOW)

    assert (report.at_risk, report.breached, report.escalated) == (0, 0, 0)
    assert list(ReviewTask.objects.order_by("pk").values()) == before
    assert AuditEvent.objects.count() == events
    assert Escalation.objects.count() == 6


def test_a_second_sweep_at_the_same_moment_does_nothing(open_at_now):
    first = sweep_at(NOW + 100 * MINUTE)
    second = sweep_at(NOW + 100 * MINUTE)

    assert (first.breached, first.escalated) == (3, 6)
    assert (second.at_risk, second.breached, second.escalated, second.mailed) == (0, 0, 0, 0)


def test_the_unclaim_rung_takes_an_abandoned_claim_back(demo, items, reviewer):
    sla_policy_set(queue=demo.queue, target_minutes=5, warn_at_percent=50)
    escalation_step_add(queue=demo.queue, after_minutes=0, action="unclaim")
    with time_machine.travel(NOW, tick=False):
        review_task_open(item=items[0], queue_slug=demo.queue.slug)
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    sweep_at(NOW + 6 * MINUTE)  # the lease (10 minutes) still runs: only the SLA takes it back

    task = fresh(task)
    assert (task.status, task.claimed_by, task.claim_token) == (TaskStatus.OPEN, None, None)
    assert Escalation.objects.get(task=task).detail == {"previous_holder": reviewer.pk}


def test_abandoned_claims_come_back_when_the_lease_runs_out(
    open_at_now, demo, reviewer, second_reviewer
):
    with time_machine.travel(NOW, tick=False):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    with time_machine.travel(NOW + 11 * MINUTE, tick=False):
        assert release_expired_claims() == 1
        again = review_task_claim(queue=demo.queue, reviewer=second_reviewer)

    assert again.pk == task.pk
    assert fresh(task).claimed_by == second_reviewer
    assert actions("task.lease_expired") == 1


def test_a_decided_task_is_left_alone(open_at_now, demo, reviewer):
    with time_machine.travel(NOW, tick=False):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        review_task_decide(
            task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
        )

    report = sweep_at(NOW + 100 * MINUTE)

    assert report.breached == 2
    assert fresh(task).breached_at is None
    assert not Escalation.objects.filter(task=task).exists()


def test_a_paused_clock_neither_warns_nor_breaches_and_resuming_moves_the_deadlines(
    open_at_now, manager
):
    task = open_at_now[0]
    with time_machine.travel(NOW + 10 * MINUTE, tick=False):
        review_task_pause(task=task, acting_user=manager, reason="Waiting for the customer")

    report = sweep_at(NOW + 5 * 60 * MINUTE)
    assert fresh(task).at_risk_at is None and fresh(task).breached_at is None
    assert report.breached == 2

    with time_machine.travel(NOW + 5 * 60 * MINUTE, tick=False):
        review_task_resume(task=task, acting_user=manager, reason="The customer answered")

    task = fresh(task)
    paused = 5 * 60 * MINUTE - 10 * MINUTE
    assert task.paused_at is None
    assert (task.warn_at, task.due_at) == (NOW + 30 * MINUTE + paused, NOW + 60 * MINUTE + paused)
    resumed = AuditEvent.objects.get(action="task.sla_resumed", object_id=str(task.pk))
    assert resumed.data["paused_business_minutes"] == 290
    assert resumed.actor_id == manager.pk
    assert AuditEvent.objects.get(action="task.sla_paused").data["reason"] == (
        "Waiting for the customer"
    )
    assert sweep_at(NOW + 319 * MINUTE).at_risk == 0
    assert sweep_at(NOW + 321 * MINUTE).at_risk == 1
    assert sweep_at(NOW + 349 * MINUTE).breached == 0
    assert sweep_at(NOW + 351 * MINUTE).breached == 1


def test_a_pause_over_the_weekend_costs_only_business_time(demo, items, manager):
    office = business_calendar_save(
        name="Berlin office",
        time_zone="Europe/Berlin",
        working_hours={day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
    sla_policy_set(queue=demo.queue, target_minutes=240, calendar=office)
    with time_machine.travel(datetime(2026, 6, 5, 11, 0, tzinfo=UTC), tick=False):  # Fri 13:00
        task = review_task_open(item=items[0], queue_slug=demo.queue.slug)
    assert task.due_at == datetime(2026, 6, 5, 15, 0, tzinfo=UTC)  # Friday 17:00 in Berlin

    with time_machine.travel(datetime(2026, 6, 5, 14, 0, tzinfo=UTC), tick=False):  # Fri 16:00
        review_task_pause(task=task, acting_user=manager, reason="Waiting for the customer")
    with time_machine.travel(datetime(2026, 6, 8, 8, 0, tzinfo=UTC), tick=False):  # Mon 10:00
        review_task_resume(task=task, acting_user=manager)

    # The hour that was left at the pause runs from Monday 10:00, not from the weekend.
    assert fresh(task).due_at == datetime(2026, 6, 8, 9, 0, tzinfo=UTC)  # Monday 11:00


def test_a_pause_needs_a_reason(open_at_now, manager):
    with pytest.raises(SlaInvalid) as refusal:
        review_task_pause(task=open_at_now[0], acting_user=manager, reason="  ")

    assert "reason" in refusal.value.errors
    assert fresh(open_at_now[0]).paused_at is None


def test_pausing_twice_or_resuming_a_running_clock_conflicts(open_at_now, manager):
    review_task_pause(task=open_at_now[0], acting_user=manager, reason="Waiting")

    with pytest.raises(SlaConflict):
        review_task_pause(task=open_at_now[0], acting_user=manager, reason="Waiting")
    with pytest.raises(SlaConflict):
        review_task_resume(task=open_at_now[1], acting_user=manager)


def test_a_rung_added_after_the_breach_still_fires(demo, items, head_of_support):
    sla_policy_set(queue=demo.queue, target_minutes=60)
    with time_machine.travel(NOW, tick=False):
        task = review_task_open(item=items[0], queue_slug=demo.queue.slug)
    sweep_at(NOW + 61 * MINUTE)
    assert fresh(task).next_escalation_at is None  # breached, no ladder yet

    escalation_step_add(
        queue=demo.queue, after_minutes=30, action="notify_manager", recipient=head_of_support
    )

    assert sweep_at(NOW + 80 * MINUTE).escalated == 0
    assert sweep_at(NOW + 91 * MINUTE).escalated == 1


def test_the_beat_task_runs_the_sweep(open_at_now):
    with time_machine.travel(NOW + 61 * MINUTE, tick=False):
        result = sweep()

    assert result == {
        "approvals_deadline_applied": 0,
        "approvals_escalated": 0,
        "approvals_decided_in_time": 0,
        "at_risk": 3,
        "breached": 3,
        "escalated": 3,
        "mailed": 0,
        "idle_escalated": 0,
    }


def test_the_review_page_shows_the_clock(open_at_now, client, reviewer, demo):
    client.force_login(reviewer)
    with time_machine.travel(NOW + 20 * MINUTE, tick=False):
        due = client.get(f"/review/{open_at_now[0].pk}/")
    sweep_at(NOW + 75 * MINUTE)
    with time_machine.travel(NOW + 75 * MINUTE, tick=False):
        breached = client.get(f"/review/{open_at_now[0].pk}/")

    assert "Due in 40\xa0minutes" in due.content.decode()
    assert "Breached 15\xa0minutes ago" in breached.content.decode()


def test_a_task_keeps_the_moment_it_turned_at_risk_when_it_breaches(open_at_now):
    sweep_at(NOW + 31 * MINUTE)
    sweep_at(NOW + 61 * MINUTE)

    task = fresh(open_at_now[0])
    assert (task.at_risk_at, task.breached_at) == (NOW + 31 * MINUTE, NOW + 61 * MINUTE)


def test_a_sweep_that_missed_the_warning_marks_the_task_at_risk_with_the_breach(open_at_now):
    sweep_at(NOW + 61 * MINUTE)

    task = fresh(open_at_now[0])
    assert (task.at_risk_at, task.breached_at) == (NOW + 61 * MINUTE, NOW + 61 * MINUTE)


def test_the_sweep_scores_tasks_for_the_claim_as_they_stand(open_at_now, demo):
    demo.queue.urgency_weight, demo.queue.priority_weight, demo.queue.uncertainty_weight = 7, 2, 3
    demo.queue.save()
    uncertainty = fresh(open_at_now[0]).uncertainty

    sweep_at(NOW + 31 * MINUTE)
    at_risk = [fresh(task).claim_score for task in open_at_now]
    sweep_at(NOW + 61 * MINUTE)
    breached = fresh(open_at_now[0])

    assert at_risk == [pytest.approx(7 * 0.5 + 3 * uncertainty)] * 3
    # Breached, and the first rung raised the priority by 10.
    assert breached.priority == 10
    assert breached.claim_score == pytest.approx(7 * 1.0 + 2 * 10 + 3 * uncertainty)
    assert breached.claim_score == pytest.approx(review_task_claim_score(breached))


@pytest.mark.parametrize("count", [2, 9])
def test_a_burst_costs_the_same_queries_for_two_tasks_as_for_nine(
    count, demo, ladder, manager, django_assert_num_queries
):
    manager.email = ""  # mailing is one claim per notification; the burst itself is measured
    manager.save()
    demo_items_submit(demo, count=count, seed=13)
    with time_machine.travel(NOW, tick=False):
        for item in Item.objects.order_by("pk"):
            review_task_open(item=item, queue_slug=demo.queue.slug)

    # At risk, breached, two rungs climbed (priority, then the team lead told) and notified,
    # all in a fixed number of statements per batch.
    with django_assert_num_queries(BURST_QUERIES):
        report = sweep_at(NOW + 95 * MINUTE)

    assert (report.at_risk, report.breached, report.escalated) == (count, count, 2 * count)
    assert (
        Notification.objects.filter(recipient=manager, kind=NotificationKind.TASK_ESCALATED).count()
        == count
    )
    assert actions("task.escalated") == 2 * count
    assert audit_verify().broken is None
