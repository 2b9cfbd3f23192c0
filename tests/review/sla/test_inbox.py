"""The in-app inbox: breaches and escalations notify the right people once, each person sees and
marks only their own, and the bell costs at most one indexed query (none once counted)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.sla.configuration import escalation_step_add, sla_policy_set
from reviewapp.review.sla.inbox import notifications_create, unread_count
from reviewapp.review.sla.models import Notification, NotificationKind
from reviewapp.review.sla.sweep import sla_sweep

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
NOTIFICATION_TABLE = Notification._meta.db_table


@pytest.fixture
def head_of_support(demo):
    return get_user_model().objects.create_user(username="hank", email="hank@example.com")


@pytest.fixture
def due_tasks(demo, routed_items, head_of_support):
    """Two tasks due an hour after NOW; a rung tells hank 30 minutes after the breach."""
    items = routed_items(count=16)[:2]
    assert len(items) == 2
    ReviewTask.objects.all().delete()
    sla_policy_set(queue=demo.queue, target_minutes=60, warn_at_percent=50)
    escalation_step_add(
        queue=demo.queue, after_minutes=30, action="notify_manager", recipient=head_of_support
    )
    with time_machine.travel(NOW, tick=False):
        return [review_task_open(item=item, queue_slug=demo.queue.slug) for item in items]


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return sla_sweep()


def of_kind(user, kind):
    return Notification.objects.filter(recipient=user, kind=kind)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_breach_tells_each_manager_of_the_queue_once_in_the_app(due_tasks, manager, reviewer):
    assert sweep_at(NOW + 61 * MINUTE).breached == 2
    sweep_at(NOW + 62 * MINUTE)
    sweep_at(NOW + 61 * MINUTE)  # a redelivered sweep with an older clock

    told = of_kind(manager, NotificationKind.TASK_BREACHED)
    assert sorted(told.values_list("task_id", flat=True)) == sorted(t.pk for t in due_tasks)
    assert set(told.values_list("email_to", flat=True)) == {""}  # in the app only
    assert not of_kind(reviewer, NotificationKind.TASK_BREACHED).exists()


def test_an_escalation_tells_the_people_it_names_once(due_tasks, head_of_support, manager):
    sweep_at(NOW + 61 * MINUTE)
    assert not of_kind(head_of_support, NotificationKind.TASK_ESCALATED).exists()

    sweep_at(NOW + 92 * MINUTE)
    sweep_at(NOW + 93 * MINUTE)

    assert of_kind(head_of_support, NotificationKind.TASK_ESCALATED).count() == 2
    assert not of_kind(manager, NotificationKind.TASK_ESCALATED).exists()
    inbox = browser(head_of_support).get("/notifications/").content.decode()
    assert inbox.count('data-kind="task_escalated"') == 2


def test_the_inbox_lists_your_notifications_with_links_in_local_time(due_tasks, manager, demo):
    sweep_at(NOW + 61 * MINUTE)
    client = browser(manager)
    client.cookies["tz"] = "Europe/Berlin"

    html = client.get("/notifications/").content.decode()

    assert html.count('data-kind="task_breached"') == 2
    assert f'href="/board/queues/{demo.queue.pk}/?state=breached"' in html
    assert f'href="/items/{due_tasks[0].item_id}/"' in html
    assert "2026-06-01 11:01:00 CEST" in html  # 09:01 UTC, seen from Berlin


def test_nobody_sees_or_marks_another_persons_notification(due_tasks, manager, reviewer):
    sweep_at(NOW + 61 * MINUTE)
    theirs = of_kind(manager, NotificationKind.TASK_BREACHED).first()
    client = browser(reviewer)

    assert f"notification-{theirs.pk}" not in client.get("/notifications/").content.decode()
    assert client.post(f"/notifications/{theirs.pk}/read").status_code == 404
    client.post("/notifications/read")
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_marking_read_one_and_then_all_updates_the_bell(
    due_tasks, manager, django_capture_on_commit_callbacks
):
    sweep_at(NOW + 61 * MINUTE)
    first, second = of_kind(manager, NotificationKind.TASK_BREACHED).order_by("pk")
    client = browser(manager)
    assert (
        '<span class="count" data-testid="unread-count">2</span>'
        in client.get("/notifications/").content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/notifications/{first.pk}/read")

    assert response.status_code == 302
    first.refresh_from_db()
    assert first.read_at is not None
    page = client.get("/notifications/").content.decode()
    assert '<span class="count" data-testid="unread-count">1</span>' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/notifications/read")
    second.refresh_from_db()
    assert second.read_at is not None
    assert 'data-testid="unread-count"' not in client.get("/notifications/").content.decode()


def test_marking_read_needs_a_post(due_tasks, manager):
    sweep_at(NOW + 61 * MINUTE)
    mine = of_kind(manager, NotificationKind.TASK_BREACHED).first()
    assert browser(manager).get(f"/notifications/{mine.pk}/read").status_code == 405


def notification_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if NOTIFICATION_TABLE in q["sql"]]


def test_the_bell_reads_one_indexed_count_then_the_cache(demo, manager):
    client = browser(manager)
    with CaptureQueriesContext(connection) as first:
        client.get("/board/")
    with CaptureQueriesContext(connection) as second:
        client.get("/board/")

    (count,) = notification_queries(first)
    assert "COUNT(" in count.upper()
    assert "read_at" in count and "IS NULL" in count  # the condition of notification_unread_idx
    assert notification_queries(second) == []


def test_anonymous_pages_never_ask_for_notifications(demo):
    with CaptureQueriesContext(connection) as captured:
        assert Client().get("/accounts/login/").status_code == 200
    assert notification_queries(captured) == []


def test_a_new_notification_is_counted_as_soon_as_it_commits(
    demo, manager, reviewer, django_capture_on_commit_callbacks
):
    assert unread_count(manager).count == 0  # now kept in the cache
    with django_capture_on_commit_callbacks(execute=True):
        notifications_create(
            [
                Notification(
                    recipient=manager,
                    kind=NotificationKind.TASK_ESCALATED,
                    message="Task 1 is late.",
                    created_at=timezone.now(),
                )
            ]
        )
    assert unread_count(manager).count == 1
    assert unread_count(reviewer).count == 0


def test_the_bell_says_99_plus_past_ninety_nine(demo, manager):
    notifications_create(
        Notification(
            recipient=manager,
            kind=NotificationKind.TASK_ESCALATED,
            message=f"Task {n} is late.",
            created_at=timezone.now(),
        )
        for n in range(120)
    )
    assert unread_count(manager).label == "99+"


def test_the_bell_refreshes_itself_and_stops_for_a_signed_out_page(demo, manager):
    html = browser(manager).get("/notifications/bell").content.decode()
    assert html.lstrip().startswith('<a id="notification-bell"')
    assert 'hx-trigger="every 60s"' in html
    assert Client().get("/notifications/bell", headers={"HX-Request": "true"}).status_code == 286
    # Opened as a page, it is the usual sign-in redirect.
    signed_out = Client().get("/notifications/bell")
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"].startswith("/accounts/login/")


def test_the_inbox_reads_its_notifications_in_one_query(
    due_tasks, manager, django_assert_num_queries
):
    sweep_at(NOW + 61 * MINUTE)
    client = browser(manager)
    client.get("/notifications/")  # the bell's count is kept from here on

    # The session, the user, the top bar's roles and the notifications with their tasks and
    # queues: the same for two notifications as for two hundred.
    with django_assert_num_queries(4):
        assert client.get("/notifications/").status_code == 200
