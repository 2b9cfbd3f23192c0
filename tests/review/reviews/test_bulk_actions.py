"""A manager's bulk actions: the preview says exactly what the action then does, caps and
skips included, and a task taken between the two is skipped and reported, never stolen."""

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from reviewapp.core.accounts.services import reviewer_profile_set
from reviewapp.core.audit.models import AuditEvent
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews import bulk
from reviewapp.review.reviews.assignments import TaskActionInvalid
from reviewapp.review.reviews.bulk import (
    GONE,
    HELD,
    NO_SKILLS,
    NOT_ASSIGNED,
    OVER_CAPS,
    BulkAction,
    review_tasks_bulk_apply,
    review_tasks_bulk_preview,
)
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_claim_settings_set
from workflows.models import Item


def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tasks(demo):
    demo_items_submit(demo, count=8, seed=9)
    return [
        review_task_open(item=item, queue_slug=demo.queue.slug)
        for item in Item.objects.order_by("pk")
    ]


def ids(tasks):
    return [task.pk for task in tasks]


def outcome(plan):
    return (plan.changed, plan.per_reviewer, plan.skipped_reasons, plan.left_out)


def test_the_preview_says_what_the_assignment_then_does_caps_included(
    tasks, demo, manager, reviewer, second_reviewer
):
    reviewer_profile_set(user=reviewer, acting_user=manager, max_claims=2)
    queue_claim_settings_set(
        queue=demo.queue, acting_user=manager, changes={"max_claims_per_reviewer": 3}
    )
    demo.queue.refresh_from_db()
    ReviewTask.objects.filter(pk=tasks[7].pk).update(status=TaskStatus.CANCELLED)
    arguments = {
        "queue": demo.queue,
        "task_ids": ids(tasks),
        "action": BulkAction.ASSIGN,
        "reviewers": [reviewer, second_reviewer],
        "acting_user": manager,
    }

    preview = review_tasks_bulk_preview(**arguments)
    applied = review_tasks_bulk_apply(**arguments)

    # alice's personal cap of 2, bob's share of the queue's cap of 3; shared out in turn.
    expected = (5, [("alice", 2), ("bob", 3)], [(OVER_CAPS, 2), (GONE, 1)], 0)
    assert outcome(preview) == outcome(applied) == expected
    assert [room.description for room in preview.rooms] == [
        "alice holds 0 of a personal cap of 2; holds 0 of this queue's cap of 3: may take 2 more",
        "bob holds 0 of this queue's cap of 3: may take 3 more",
    ]
    held = ReviewTask.objects.filter(pk__in=ids(tasks), status=TaskStatus.CLAIMED)
    assert (
        sorted(held.values_list("claimed_by__username", flat=True)) == ["alice"] * 2 + ["bob"] * 3
    )
    # In the list's order, in turn: alice, bob, alice, bob, bob.
    assert [applied.changes[pk].get_username() for pk in ids(tasks)[:5]] == [
        "alice", "bob", "alice", "bob", "bob",
    ]  # fmt: skip
    assert applied.summary() == (
        "5 tasks assigned (alice: 2, bob: 3); 3 skipped: 2 over the chosen reviewers' caps; "
        "1 no longer open (decided or cancelled)."
    )
    assert AuditEvent.objects.filter(action="task.reassigned").count() == 5
    summary = AuditEvent.objects.get(action="queue.tasks_bulk_changed")
    assert summary.actor == manager
    assert summary.data["skipped"] == {OVER_CAPS: 2, GONE: 1}


def test_a_task_claimed_after_the_preview_is_skipped_and_reported(
    tasks, demo, manager, reviewer, second_reviewer
):
    arguments = {
        "queue": demo.queue,
        "task_ids": ids(tasks[:3]),
        "action": BulkAction.ASSIGN,
        "reviewers": [second_reviewer],
        "acting_user": manager,
    }
    assert review_tasks_bulk_preview(**arguments).changed == 3
    taken = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert taken.pk in arguments["task_ids"]

    applied = review_tasks_bulk_apply(**arguments)

    assert applied.changed == 2 and applied.skipped == {HELD: [taken.pk]}
    assert ReviewTask.objects.get(pk=taken.pk).claimed_by == reviewer  # never taken from them


def test_a_reviewer_without_the_queues_skills_gets_nothing_and_the_preview_says_why(
    tasks, demo, manager, second_reviewer
):
    demo.queue.required_skills = ["german"]
    demo.queue.save(update_fields=["required_skills"])
    plan = review_tasks_bulk_preview(
        queue=demo.queue,
        task_ids=ids(tasks[:2]),
        action=BulkAction.ASSIGN,
        reviewers=[second_reviewer],
        acting_user=manager,
    )
    assert plan.changed == 0 and plan.skipped_reasons == [(NO_SKILLS, 2)]
    assert plan.rooms[0].description == "bob lacks skills this queue needs (german)"


def test_unassign_and_priority_change_each_task_once_and_audit_it(tasks, demo, manager, reviewer):
    held = review_task_claim(queue=demo.queue, reviewer=reviewer)
    others = [pk for pk in ids(tasks) if pk != held.pk][:2]
    unassigned = review_tasks_bulk_apply(
        queue=demo.queue,
        task_ids=[held.pk, *others],
        action=BulkAction.UNASSIGN,
        acting_user=manager,
    )
    assert unassigned.changed == 1 and unassigned.skipped_reasons == [(NOT_ASSIGNED, 2)]
    assert ReviewTask.objects.get(pk=held.pk).status == TaskStatus.OPEN
    event = AuditEvent.objects.get(action="task.unassigned")
    assert event.data["previous_holder"] == "alice" and event.data["bulk"] is True

    ReviewTask.objects.filter(pk=tasks[0].pk).update(priority=4)
    changed = review_tasks_bulk_apply(
        queue=demo.queue,
        task_ids=ids(tasks[:3]),
        action=BulkAction.PRIORITY,
        priority=4,
        acting_user=manager,
    )
    assert changed.changed == 2 and changed.skipped_reasons == [("already at that priority", 1)]
    after = ReviewTask.objects.filter(pk__in=ids(tasks[:3]))
    assert set(after.values_list("priority", flat=True)) == {4}
    # The claim order follows the new priority (default weights: priority 1, uncertainty 1).
    for task in after.exclude(pk=tasks[0].pk):
        assert task.claim_score == pytest.approx(4 + task.uncertainty)
    event = AuditEvent.objects.filter(action="task.priority_changed").first()
    assert event.data["before"] == 0 and event.data["after"] == 4


def test_only_a_manager_of_the_queue_may_preview_or_act(tasks, demo, reviewer, outsider):
    for user in (reviewer, outsider):
        with pytest.raises(PermissionDenied):
            review_tasks_bulk_preview(
                queue=demo.queue,
                task_ids=ids(tasks[:1]),
                action=BulkAction.UNASSIGN,
                acting_user=user,
            )
        with pytest.raises(PermissionDenied):
            review_tasks_bulk_apply(
                queue=demo.queue,
                task_ids=ids(tasks[:1]),
                action=BulkAction.UNASSIGN,
                acting_user=user,
            )
    assert not AuditEvent.objects.filter(action="queue.tasks_bulk_changed").exists()


def test_wrong_arguments_are_field_errors(tasks, demo, manager, outsider):
    one = ids(tasks[:1])
    cases = [
        ({"action": "delete", "task_ids": ids(tasks[:1])}, "action"),
        ({"action": BulkAction.UNASSIGN, "task_ids": []}, "tasks"),
        ({"action": BulkAction.ASSIGN, "task_ids": ids(tasks[:1])}, "reviewer"),
        ({"action": BulkAction.ASSIGN, "task_ids": one, "reviewers": [outsider]}, "reviewer"),
        ({"action": BulkAction.PRIORITY, "task_ids": one, "priority": 99_999}, "priority"),
    ]  # fmt: skip
    for arguments, field in cases:
        with pytest.raises(TaskActionInvalid) as refused:
            review_tasks_bulk_apply(queue=demo.queue, acting_user=manager, **arguments)
        assert field in refused.value.errors


def test_the_pages_preview_then_apply_and_say_what_was_skipped(tasks, demo, manager, reviewer):
    reviewer_profile_set(user=reviewer, acting_user=manager, max_claims=2)
    client = browser(manager)
    url = f"/board/queues/{demo.queue.pk}/bulk"
    form = {"action": "assign", "assignee": ["alice"], "task": ids(tasks[:4]), "state": "open"}

    preview = client.post(url, form)
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "4 tasks selected: 2 will change, 2 will be skipped" in html
    assert "alice: 2 tasks" in html
    assert "2 over the chosen reviewers&#x27; caps" in html
    assert "holds 0 of a personal cap of 2: may take 2 more" in html
    assert not ReviewTask.objects.filter(status=TaskStatus.CLAIMED).exists()  # nothing yet

    confirm = dict(
        re.findall(r'<input type="hidden" name="(action|left_out|state)" value="([^"]*)"', html)
    )
    tasks_posted = re.findall(r'<input type="hidden" name="task" value="(\d+)"', html)
    done = client.post(
        f"{url}/apply", {**confirm, "task": tasks_posted, "assignee": ["alice"]}, follow=True
    )
    assert done.redirect_chain[-1][0] == f"/board/queues/{demo.queue.pk}/?state=open"
    assert "2 tasks assigned (alice: 2); 2 skipped: 2 over the chosen reviewers" in (
        done.content.decode()
    )
    assert ReviewTask.objects.filter(status=TaskStatus.CLAIMED, claimed_by=reviewer).count() == 2


def test_select_all_matching_takes_at_most_one_actions_worth_and_says_how_many_are_left(
    tasks, demo, manager, monkeypatch
):
    monkeypatch.setattr(bulk, "MAX_BULK_TASKS", 5)
    from reviewapp.review.sla import views

    monkeypatch.setattr(views, "MAX_BULK_TASKS", 5)
    client = browser(manager)
    response = client.post(
        f"/board/queues/{demo.queue.pk}/bulk",
        {"action": "priority", "priority": "3", "select": "matching", "state": "open"},
    )
    html = response.content.decode()
    assert "5 tasks selected: 5 will change" in html
    assert "3 more tasks match the filter but are not selected" in html


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "assign", "assignee": ["alice"]}, "Select at least one task"),
        ({"action": "assign", "task": ["x"]}, "not a task"),
        ({"action": "explode", "task": ["1"]}, "Choose what to do"),
        ({"action": "assign", "task": ["1"]}, "Choose who gets the tasks"),
        ({"action": "assign", "task": ["1"], "assignee": ["oscar"]}, "cannot review tasks"),
        ({"action": "priority", "task": ["1"], "priority": "high"}, "whole number"),
        ({"action": "priority", "task": ["1"], "priority": "99999"}, "from -10000 to 10000"),
        ({"action": "unassign", "task": ["1"], "sort": "sideways"}, "Sort by one of"),
    ],
)
def test_a_bad_bulk_form_gets_a_message_and_400(tasks, demo, manager, form, message):
    response = browser(manager).post(f"/board/queues/{demo.queue.pk}/bulk", form)
    assert response.status_code == 400
    assert message in response.content.decode()
