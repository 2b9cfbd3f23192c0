"""The managers' SLA board: live figures per queue, the drill-down, actions, the weekly report."""

import csv
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import humanize
from reviewapp.core.errors import refusal_message
from reviewapp.core.http import HtmxHttpRequest
from reviewapp.core.permissions import MANAGE_QUEUE
from reviewapp.core.spreadsheets import neutralise_formula
from reviewapp.core.untrusted import whole_number
from reviewapp.review.reviews.access import (
    get_queue_for_user,
    get_task_for_user,
    queue_reviewers,
    queues_for_user,
)
from reviewapp.review.reviews.assignments import (
    TaskActionInvalid,
    TaskStateConflict,
    review_task_reassign,
    review_task_unassign,
    review_tasks_bulk_assign,
)
from reviewapp.review.sla.board import (
    DRILL_DOWN_LIMIT,
    DRILL_DOWN_STATES,
    OPEN_FIGURES_MAX_AGE,
    QueueBoard,
    queue_boards,
    queue_live_figures,
    queue_tasks,
    sla_weekly_report,
)
from reviewapp.review.sla.charts import Series, bar_chart, line_chart
from reviewapp.review.sla.presence import (
    ACTIVE_WITHIN,
    AWAY_WITHIN,
    IDLE_WITHIN,
    queue_reviewer_workloads,
)

NO_FIGURE = "\N{EN DASH}"  # shown where there is nothing to measure yet


def _charts(board: QueueBoard) -> dict:
    days = [day.strftime("%d %b") for day in board.days]
    name = board.queue.name
    return {
        "decisions": bar_chart(
            title=f"{name}: decisions per day, last 14 days",
            labels=days,
            series=[Series("decisions", board.decisions_per_day, "series-1")],
        ),
        "breaches": line_chart(
            title=f"{name}: breaches per day, last 14 days",
            labels=days,
            series=[Series("breaches", board.breaches_per_day, "series-2")],
        ),
        "histogram": bar_chart(
            title=f"{name}: time to decision, decisions of the last 14 days",
            labels=[label for label, _ in board.time_to_decision_histogram],
            series=[Series("decisions", [n for _, n in board.time_to_decision_histogram])],
        ),
    }


@require_GET
@login_required
def board(request: HtmxHttpRequest) -> HttpResponse:
    boards = queue_boards(
        queues_for_user(request.user, MANAGE_QUEUE), open_max_age=OPEN_FIGURES_MAX_AGE
    )
    rows = [
        {
            "board": b,
            "charts": _charts(b),
            "oldest": duration_text(b.oldest_open_age),
            "median": duration_text(b.median_time_to_decision),
            "override_rate": NO_FIGURE if b.override_rate is None else f"{b.override_rate:.0%}",
        }
        for b in boards
    ]
    template = "sla/board.html#queues" if request.htmx else "sla/board.html"
    return render(
        request,
        template,
        {
            "rows": rows,
            "updated_at": timezone.now(),
            "open_counted_at": _open_counted_at(boards),
            "open_max_age": OPEN_FIGURES_MAX_AGE,
        },
    )


def _open_counted_at(boards: list[QueueBoard]):
    """When the oldest of the open counts on the page was taken (they may be seconds old)."""
    return min((b.open_counted_at for b in boards if b.open_counted_at), default=None)


def duration_text(value: timedelta | None) -> str:
    return NO_FIGURE if value is None else humanize.duration_text(value)


def _int_or_none(value: str | None) -> int | None:
    return whole_number(value)


@require_GET
@login_required
def board_queue(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    state = request.GET.get("state", "")
    if state not in DRILL_DOWN_STATES:
        state = ""
    reviewer_id = _int_or_none(request.GET.get("reviewer"))
    summary = queue_live_figures(queue, open_max_age=OPEN_FIGURES_MAX_AGE)
    reviewers = list(queue_reviewers(queue))
    # Every task row offers the same reviewers to assign to: the options are built once, not
    # once per row (100 rows of a few dozen options were most of the page's rendering time).
    assign_options = format_html_join(
        "", '<option value="{}">{}</option>', ((p.get_username(),) * 2 for p in reviewers)
    )
    return render(
        request,
        "sla/board_queue.html",
        {
            "queue": queue,
            "summary": summary,
            "tasks": queue_tasks(queue=queue, state=state, reviewer_id=reviewer_id),
            "state": state,
            "states": DRILL_DOWN_STATES.items(),
            "limit": DRILL_DOWN_LIMIT,
            "reviewer_id": reviewer_id,
            "reviewers": reviewers,
            "assign_options": assign_options,
            "open_counted_at": summary.open_counted_at,
            "open_max_age": OPEN_FIGURES_MAX_AGE,
        },
    )


def _threshold_text(span: timedelta) -> str:
    """A presence threshold in words: "2 minutes", "8 hours"."""
    minutes = int(span.total_seconds() // 60)
    if minutes % 60:
        return f"{minutes} minute{'s' * (minutes != 1)}"
    return f"{minutes // 60} hour{'s' * (minutes != 60)}"


@require_GET
@login_required
def board_queue_reviewers(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    """The queue's reviewers: who is at work now and how much each carries."""
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    rows = [
        {"workload": w, "median": duration_text(w.median_today)}
        for w in queue_reviewer_workloads(queue)
    ]
    template = "sla/board_reviewers.html#panel" if request.htmx else "sla/board_reviewers.html"
    return render(
        request,
        template,
        {
            "queue": queue,
            "rows": rows,
            "updated_at": timezone.now(),
            "active_within": _threshold_text(ACTIVE_WITHIN),
            "idle_within": _threshold_text(IDLE_WITHIN),
            "away_within": _threshold_text(AWAY_WITHIN),
        },
    )


def _reviewer(queue, username: str):
    """The chosen reviewer among those who may review the queue, or ``None``."""
    return queue_reviewers(queue).filter(username=username).first()


def _back(queue_id: int, request: HtmxHttpRequest) -> HttpResponse:
    """Back to the drill-down with the filters the manager had chosen."""
    filters = {
        key: value
        for key in ("state", "reviewer")
        if (value := request.POST.get(f"filter_{key}", ""))
    }
    url = reverse("board-queue", args=[queue_id])
    return redirect(f"{url}?{urlencode(filters)}" if filters else url)


@require_POST
@login_required
def task_assign(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    task = get_task_for_user(request.user, task_id, MANAGE_QUEUE)
    username = request.POST.get("reviewer", "")
    try:
        review_task_reassign(
            task=task, to_reviewer=_reviewer(task.queue, username), acting_user=request.user
        )
    except (TaskActionInvalid, TaskStateConflict) as refused:
        messages.error(request, refusal_message(refused))
    else:
        messages.success(request, f"Task {task.pk} assigned to {username}.")
    return _back(task.queue_id, request)


@require_POST
@login_required
def task_unassign(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    task = get_task_for_user(request.user, task_id, MANAGE_QUEUE)
    try:
        review_task_unassign(task=task, acting_user=request.user)
    except TaskStateConflict as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Task {task.pk} is back in the queue.")
    return _back(task.queue_id, request)


@require_POST
@login_required
def queue_bulk_assign(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    username = request.POST.get("reviewer", "")
    count = _int_or_none(request.POST.get("count"))
    try:
        assigned = review_tasks_bulk_assign(
            queue=queue,
            to_reviewer=_reviewer(queue, username),
            count=count or 0,
            acting_user=request.user,
        )
    except TaskActionInvalid as refused:
        messages.error(request, refusal_message(refused))
    else:
        messages.success(request, f"{len(assigned)} open task(s) assigned to {username}.")
    return _back(queue.pk, request)


@require_GET
@login_required
def sla_report_csv(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sla-{queue.slug}-weekly.csv"'
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerow(["queue", "iso_week", "decided", "met", "breached", "met_percent"])
    for row in sla_weekly_report(queue=queue):
        with_clock = row.met + row.breached
        percent = f"{100 * row.met / with_clock:.1f}" if with_clock else ""
        writer.writerow(
            [neutralise_formula(queue.name), row.week, row.decided, row.met, row.breached, percent]
        )
    return response
