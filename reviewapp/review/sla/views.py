"""The managers' SLA board: live figures per queue, the drill-down, actions, the weekly report."""

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
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
from reviewapp.review.reviews.bulk import (
    MAX_BULK_TASKS,
    BulkAction,
    BulkPlan,
    review_tasks_bulk_apply,
    review_tasks_bulk_preview,
)
from reviewapp.review.sla.board import (
    DRILL_DOWN_STATES,
    OPEN_FIGURES_MAX_AGE,
    QueueBoard,
    queue_boards,
    queue_live_figures,
    sla_weekly_report,
)
from reviewapp.review.sla.charts import Series, bar_chart, line_chart
from reviewapp.review.sla.drill_down import (
    SORTS,
    ListingInvalid,
    TaskListing,
    TaskPage,
    listing_from_query,
    task_ids_matching,
    task_page,
    tasks_matching,
)
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


def _labels(queue) -> list[str]:
    """The predicted labels the workflow can give, for the filter's choices."""
    version = queue.workflow.current_version
    labels = version.definition.get("labels") if version is not None else None
    return [str(label) for label in labels] if isinstance(labels, list) else []


def _drill_down(
    request: HtmxHttpRequest, queue, listing: TaskListing, *, error: str = "", status: int = 200
) -> HttpResponse:
    summary = queue_live_figures(queue, open_max_age=OPEN_FIGURES_MAX_AGE)
    page = task_page(queue=queue, listing=listing) if not error else TaskPage()
    return render(
        request,
        "sla/board_queue.html",
        {
            "queue": queue,
            "summary": summary,
            "page": page,
            "listing": listing,
            "filter_params": listing.params().items(),
            "error": error,
            "sorts": [(key, sort.label) for key, sort in SORTS.items()],
            "states": DRILL_DOWN_STATES.items(),
            "labels": _labels(queue),
            "reviewers": list(queue_reviewers(queue)),
            "max_bulk": MAX_BULK_TASKS,
            "open_counted_at": summary.open_counted_at,
            "open_max_age": OPEN_FIGURES_MAX_AGE,
        },
        status=status,
    )


@require_GET
@login_required
def board_queue(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    try:
        listing = listing_from_query(request.GET)
    except ListingInvalid as bad:
        return _drill_down(request, queue, TaskListing(), error=str(bad), status=400)
    return _drill_down(request, queue, listing)


@dataclass(frozen=True)
class BulkRequest:
    action: str
    task_ids: list[int]
    reviewers: list
    priority: int | None
    left_out: int
    listing: TaskListing


def _bulk_request(request: HtmxHttpRequest, queue) -> BulkRequest:
    """The bulk form (or the preview's confirmation), checked; ``ListingInvalid`` if not."""
    data = request.POST
    listing = listing_from_query(data)
    action = data.get("action", "")
    if action not in BulkAction.values:
        raise ListingInvalid("Choose what to do with the selected tasks.")
    left_out = 0
    if data.get("select") == "matching":
        task_ids, more = task_ids_matching(queue=queue, listing=listing, limit=MAX_BULK_TASKS)
        if more:
            # Counted (once, by the preview) only when more match than one action takes:
            # said on the preview and in the result, never cut silently.
            left_out = tasks_matching(queue, listing).count() - len(task_ids)
    else:
        texts = data.getlist("task")
        task_ids = [number for text in texts if (number := whole_number(text)) is not None]
        if len(task_ids) != len(texts):
            raise ListingInvalid("The selection holds something that is not a task.")
        task_ids = list(dict.fromkeys(task_ids))
        left_out = whole_number(data.get("left_out", "0")) or 0
    if not task_ids:
        raise ListingInvalid("Select at least one task, or all tasks matching the filter.")
    if len(task_ids) > MAX_BULK_TASKS:
        raise ListingInvalid(f"Select at most {MAX_BULK_TASKS} tasks at once.")
    reviewers = []
    if action == BulkAction.ASSIGN:
        names = data.getlist("assignee")
        reviewers = list(queue_reviewers(queue).filter(username__in=names))
        if not names:
            raise ListingInvalid("Choose who gets the tasks.")
        if len(reviewers) != len(set(names)):
            raise ListingInvalid("Someone chosen cannot review tasks of this queue.")
    priority = None
    if action == BulkAction.PRIORITY:
        text = data.get("priority", "").strip()
        negative = text.startswith("-")
        number = whole_number(text.removeprefix("-"))
        if number is None:
            raise ListingInvalid("Give the new priority as a whole number.")
        priority = -number if negative else number
    return BulkRequest(action, task_ids, reviewers, priority, left_out, listing)


def _bulk_planned(
    request: HtmxHttpRequest, queue, service: Callable[..., BulkPlan]
) -> tuple[BulkRequest, BulkPlan] | HttpResponse:
    """The bulk form checked and handed to ``service`` (preview or apply); a refusal is the
    drill-down again with its message and a 400."""
    try:
        bulk = _bulk_request(request, queue)
        plan = service(
            queue=queue,
            task_ids=bulk.task_ids,
            action=bulk.action,
            reviewers=bulk.reviewers,
            priority=bulk.priority,
            left_out=bulk.left_out,
            acting_user=request.user,
        )
    except ListingInvalid as bad:
        return _drill_down(request, queue, TaskListing(), error=str(bad), status=400)
    except TaskActionInvalid as refused:
        return _drill_down(request, queue, bulk.listing, error=refusal_message(refused), status=400)
    return bulk, plan


@require_POST
@login_required
def queue_bulk_preview(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    """What the bulk action would do, to confirm; nothing changes yet."""
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    planned = _bulk_planned(request, queue, review_tasks_bulk_preview)
    if isinstance(planned, HttpResponse):
        return planned
    bulk, plan = planned
    return render(
        request,
        "sla/board_queue_bulk.html",
        {
            "queue": queue,
            "plan": plan,
            "bulk": bulk,
            "action_label": BulkAction(bulk.action).label,
            "assignees": [r.get_username() for r in bulk.reviewers],
            "filter_params": bulk.listing.params().items(),
            "back": _drill_down_url(queue.pk, bulk.listing),
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


def _drill_down_url(queue_id: int, listing: TaskListing) -> str:
    url = reverse("board-queue", args=[queue_id])
    query = listing.query()
    return f"{url}?{query}" if query else url


@require_POST
@login_required
def queue_bulk_apply(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    planned = _bulk_planned(request, queue, review_tasks_bulk_apply)
    if isinstance(planned, HttpResponse):
        return planned
    bulk, plan = planned
    if plan.skipped or plan.left_out:
        messages.warning(request, plan.summary())
    else:
        messages.success(request, plan.summary())
    return redirect(_drill_down_url(queue.pk, bulk.listing))


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
