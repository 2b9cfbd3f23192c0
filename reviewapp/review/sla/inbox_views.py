"""The in-app inbox: /notifications/, marking read, and the bell's htmx refresh.

Everyone sees only their own notifications (``reviewapp.review.sla.inbox``); marking read is a
plain form POST that comes back to the list, so it works without JS.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from reviewapp.review.sla.inbox import (
    INBOX_LIMIT,
    get_notification_for_user,
    notification_mark_read,
    notifications_for_user,
    notifications_mark_all_read,
)
from reviewapp.review.sla.models import Notification, NotificationKind

# htmx stops polling when answered with this status.
STOP_POLLING = 286


def _links(notification: Notification) -> list[tuple[str, str]]:
    """Where to act on it: the queue's tasks on the board (breached ones for a breach) and the
    item. The task's queue is the one it is in now (an escalation may have moved it)."""
    task = notification.task
    if task is None:
        return []
    queue_url = reverse("board-queue", args=[task.queue_id])
    if notification.kind == NotificationKind.TASK_BREACHED:
        queue_url += "?state=breached"
    return [
        (queue_url, f"Tasks of {task.queue.name}"),
        (reverse("item-detail", args=[task.item_id]), f"Item {task.item_id}"),
    ]


@require_GET
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    rows = [
        {"notification": n, "links": _links(n)}
        for n in notifications_for_user(request.user)[:INBOX_LIMIT]
    ]
    return render(request, "notifications/inbox.html", {"rows": rows, "limit": INBOX_LIMIT})


@require_POST
@login_required
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    notification = get_notification_for_user(request.user, notification_id)
    notification_mark_read(notification=notification, acting_user=request.user)
    return redirect(f"{reverse('notification-list')}#notification-{notification.pk}")


@require_POST
@login_required
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications_mark_all_read(acting_user=request.user)
    if count:
        messages.success(request, f"{count} notification(s) marked read.")
    return redirect("notification-list")


@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    """The bell, polled by every page: a signed-out page (an expired session) stops asking
    rather than have a login page swapped into the top bar; outside htmx it is the usual
    sign-in redirect."""
    if not request.user.is_authenticated:
        if request.headers.get("HX-Request") == "true":
            return HttpResponse(status=STOP_POLLING)
        return redirect_to_login(request.get_full_path())
    return render(request, "notifications/_bell.html")
