"""Idle-claim rungs: a claim whose holder went quiet escalates, once, audited."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.assignments import review_tasks_bulk_assign
from reviewapp.review.reviews.claims import review_task_claim, review_task_extend
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.sla.configuration import escalation_step_add
from reviewapp.review.sla.errors import SlaInvalid
from reviewapp.review.sla.models import (
    Escalation,
    EscalationAction,
    EscalationTrigger,
    Notification,
)
from reviewapp.review.sla.sweep import sla_sweep
from workflows.models import Item

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def tasks(demo):
    demo_items_submit(demo, count=2, seed=6)
    with time_machine.travel(NOW, tick=False):
        return [
            review_task_open(item=item, queue_slug=demo.queue.slug)
            for item in Item.objects.order_by("pk")
        ]


@pytest.fixture
def idle_ladder(demo, manager):
    lead = escalation_step_add(
        queue=demo.queue,
        trigger=EscalationTrigger.IDLE_CLAIM,
        after_minutes=60,
        action=EscalationAction.NOTIFY_TEAM_LEAD,
    )
    unclaim = escalation_step_add(
        queue=demo.queue,
        trigger=EscalationTrigger.IDLE_CLAIM,
        after_minutes=120,
        action=EscalationAction.UNCLAIM,
    )
    return lead, unclaim


def test_an_idle_assignment_notifies_the_lead_then_returns_to_the_queue_once(
    tasks, idle_ladder, demo, manager, second_reviewer
):
    _lead, unclaim = idle_ladder
    with time_machine.travel(NOW, tick=False):
        review_tasks_bulk_assign(
            queue=demo.queue, to_reviewer=second_reviewer, count=2, acting_user=manager
        )
    with time_machine.travel(NOW + timedelta(minutes=59), tick=False):
        assert sla_sweep().idle_escalated == 0

    with time_machine.travel(NOW + timedelta(minutes=61), tick=False):
        assert sla_sweep().idle_escalated == 2
        assert sla_sweep().idle_escalated == 0
    assert Notification.objects.filter(recipient=manager).count() == 2
    assert "no activity since 2026-03-02 09:00" in Notification.objects.first().message
    assert set(ReviewTask.objects.values_list("status", flat=True)) == {TaskStatus.CLAIMED}

    with time_machine.travel(NOW + timedelta(minutes=121), tick=False):
        assert sla_sweep().idle_escalated == 2
    with time_machine.travel(NOW + timedelta(minutes=500), tick=False):
        assert sla_sweep().idle_escalated == 0
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        assert sla_sweep().idle_escalated == 0  # the clock going back undoes nothing

    assert set(ReviewTask.objects.values_list("status", flat=True)) == {TaskStatus.OPEN}
    assert Escalation.objects.filter(step=unclaim).count() == 2
    events = AuditEvent.objects.filter(action="task.escalated").order_by("pk")
    assert [event.data["trigger"] for event in events] == ["idle_claim"] * 4
    assert {event.data["holder"] for event in events} == {second_reviewer.pk}


def test_a_heartbeat_keeps_an_idle_rung_from_firing(tasks, idle_ladder, demo, reviewer, settings):
    settings.REVIEWAPP_LEASE = timedelta(hours=1)
    with time_machine.travel(NOW, tick=False):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    with time_machine.travel(NOW + timedelta(minutes=50), tick=False):
        review_task_extend(task=task, reviewer=reviewer, claim_token=task.claim_token)
    with time_machine.travel(NOW + timedelta(minutes=100), tick=False):
        assert sla_sweep().idle_escalated == 0
    with time_machine.travel(NOW + timedelta(minutes=111), tick=False):
        assert sla_sweep().idle_escalated == 1
    assert Escalation.objects.get().task_id == task.pk


def test_idle_rungs_do_not_take_part_in_the_breach_ladder(demo):
    escalation_step_add(
        queue=demo.queue,
        after_minutes=240,
        action=EscalationAction.RAISE_PRIORITY,
        priority_boost=1,
    )
    # An idle rung after a late breach rung is fine: the two ladders are ordered apart.
    idle = escalation_step_add(
        queue=demo.queue,
        trigger=EscalationTrigger.IDLE_CLAIM,
        after_minutes=30,
        action=EscalationAction.UNCLAIM,
    )
    assert idle.position == 2

    with pytest.raises(SlaInvalid) as refused:
        escalation_step_add(
            queue=demo.queue,
            trigger=EscalationTrigger.IDLE_CLAIM,
            after_minutes=0,
            action=EscalationAction.UNCLAIM,
        )
    assert "after_minutes" in refused.value.errors
    with pytest.raises(SlaInvalid) as refused:
        escalation_step_add(queue=demo.queue, trigger="whenever", after_minutes=5, action="unclaim")
    assert "trigger" in refused.value.errors
