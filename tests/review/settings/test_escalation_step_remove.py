"""Taking a rung off a ladder: only one that never fired, audited, and the sweep carries on."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.sla.configuration import (
    escalation_step_add,
    escalation_step_remove,
    sla_policy_set,
)
from reviewapp.review.sla.errors import SlaConflict
from reviewapp.review.sla.models import Escalation, EscalationAction, EscalationStep
from reviewapp.review.sla.sweep import sla_sweep
from workflows.models import Item

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def ladder(demo):
    sla_policy_set(queue=demo.queue, target_minutes=60)
    return [
        escalation_step_add(
            queue=demo.queue,
            after_minutes=0,
            action=EscalationAction.RAISE_PRIORITY,
            priority_boost=5,
        ),
        escalation_step_add(
            queue=demo.queue, after_minutes=30, action=EscalationAction.NOTIFY_TEAM_LEAD
        ),
    ]


@pytest.fixture
def breached_task(demo, ladder):
    """A task opened at NOW and swept 61 minutes later: the first rung fired, the second waits."""
    demo_items_submit(demo, count=1, seed=5)
    with time_machine.travel(NOW, tick=False):
        task = review_task_open(item=Item.objects.get(), queue_slug=demo.queue.slug)
    with time_machine.travel(NOW + timedelta(minutes=61), tick=False):
        sla_sweep()
    assert Escalation.objects.filter(task=task, step=ladder[0]).exists()
    return task


def test_a_rung_that_never_fired_is_removed_and_audited(demo, manager, ladder):
    escalation_step_remove(step=ladder[1], acting_user=manager)
    assert list(EscalationStep.objects.filter(queue=demo.queue)) == [ladder[0]]
    event = AuditEvent.objects.get(action="sla.escalation_step_removed")
    assert event.actor == manager
    assert event.data["position"] == 2 and event.data["action"] == "notify_team_lead"


def test_a_rung_that_fired_stays(manager, ladder, breached_task):
    with pytest.raises(SlaConflict, match="already escalated 1 task;"):
        escalation_step_remove(step=ladder[0], acting_user=manager)
    assert EscalationStep.objects.filter(pk=ladder[0].pk).exists()
    assert not AuditEvent.objects.filter(action="sla.escalation_step_removed").exists()


def test_tasks_waiting_for_a_removed_rung_move_on_to_the_next(demo, manager, breached_task):
    later = escalation_step_add(
        queue=demo.queue, after_minutes=45, action=EscalationAction.NOTIFY_TEAM_LEAD
    )
    waiting_for = EscalationStep.objects.get(queue=demo.queue, position=2)
    escalation_step_remove(step=waiting_for, acting_user=manager)
    # At the removed rung's time nothing fires; the task now waits for the 45-minute rung.
    with time_machine.travel(NOW + timedelta(minutes=91), tick=False):
        assert sla_sweep().escalated == 0
    task = ReviewTask.objects.get(pk=breached_task.pk)
    assert task.next_escalation_at == NOW + timedelta(minutes=60 + 45)
    with time_machine.travel(NOW + timedelta(minutes=106), tick=False):
        assert sla_sweep().escalated == 1
    assert Escalation.objects.filter(task=task, step=later).exists()


def test_the_settings_page_keeps_a_fired_rung_and_says_why(
    browser_as, demo, manager, ladder, breached_task
):
    client = browser_as(manager)
    page = client.get(reverse("queue-settings", args=[demo.queue.pk]))
    assert b"kept: it escalated tasks" in page.content
    assert b"Remove step 1" not in page.content and b"Remove step 2" in page.content
    url = reverse("queue-settings-step-remove", args=[demo.queue.pk, ladder[0].pk])
    answer = client.post(url, follow=True)
    assert b"Step 1 already escalated 1 task;" in answer.content
    refused = client.post(url, HTTP_HX_REQUEST="true")
    assert refused.status_code == 409
    assert b"Step 1 already escalated 1 task;" in refused.content
    assert EscalationStep.objects.filter(pk=ladder[0].pk).exists()
