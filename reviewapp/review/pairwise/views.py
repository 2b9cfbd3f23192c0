"""The comparison page (input, then outputs A and B side by side; A, B or tie with a reason) and
the pairwise results page of a workflow."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core.untrusted import whole_number
from reviewapp.review.pairwise.access import get_comparison_task_for_user
from reviewapp.review.pairwise.models import Choice
from reviewapp.review.pairwise.selectors import comparison_for_task, matchups
from reviewapp.review.pairwise.services import (
    REASON_MAX_LENGTH,
    PairwiseConflict,
    PairwiseInvalid,
    comparison_decide,
)
from reviewapp.review.reviews.claims import (
    SKIP_REASON_MAX_LENGTH,
    ClaimLost,
    SkipInvalid,
    review_task_claim,
    review_task_skip,
)
from reviewapp.review.reviews.eligibility import CapacityReached, SkillsMissing
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.schema_form import value_text
from workflows.access import get_workflow_for_user
from workflows.selectors import item_input_fields


def _output_rows(a, b) -> list[tuple[str, str, str]]:
    """(field, A's value, B's value) in one order for both sides, values as people read them."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return [("output", value_text(a), value_text(b))]
    names = sorted({*a, *b})
    return [(name, value_text(a.get(name)), value_text(b.get(name))) for name in names]


def _render(request, task: ReviewTask, *, status: int = 200, **extra) -> HttpResponse:
    blind = comparison_for_task(task)
    context = {
        "task": task,
        "queue": task.queue,
        "input_fields": item_input_fields(task.item),
        "rows": _output_rows(blind.a, blind.b),
        "holds_claim": task.status == TaskStatus.CLAIMED and task.claimed_by_id == request.user.pk,
        "choices": Choice,
        "reason_max_length": REASON_MAX_LENGTH,
        "skip_reason_max_length": SKIP_REASON_MAX_LENGTH,
        **extra,
    }
    return render(request, "pairwise/compare.html", context, status=status)


@require_GET
@login_required
def comparison_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_comparison_task_for_user(request.user, task_id)
    return _render(request, task)


def _next(request, task: ReviewTask, saved: str) -> HttpResponse:
    """Submit and next: the claim of the next comparison, or the queue list when none is left."""
    messages.success(request, saved)
    try:
        following = review_task_claim(queue=task.queue, reviewer=request.user)
    except (CapacityReached, SkillsMissing) as refused:
        messages.error(request, str(refused))
        return redirect("queue-list")
    if following is None:
        messages.info(request, f"Nothing left to compare in {task.queue.name}.")
        return redirect("queue-list")
    return redirect("pairwise-task", task_id=following.pk)


@require_POST
@login_required
def comparison_decide_view(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_comparison_task_for_user(request.user, task_id)
    choice = request.POST.get("choice", "")
    spent = whole_number(request.POST.get("time_spent_ms"))
    try:
        comparison_decide(
            task=task,
            reviewer=request.user,
            claim_token=request.POST.get("claim_token", ""),
            choice=choice,
            reason=request.POST.get("reason", ""),
            time_spent_ms=spent if spent is not None and 0 <= spent < 2**31 else None,
        )
    except PairwiseInvalid as invalid:
        return _render(request, task, status=422, errors=invalid.errors, submitted=request.POST)
    except (ClaimLost, PairwiseConflict) as lost:
        return _render(request, task, status=409, claim_lost=str(lost))
    return _next(request, task, "Comparison saved")


@require_POST
@login_required
def comparison_skip(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_comparison_task_for_user(request.user, task_id)
    try:
        review_task_skip(
            task=task,
            reviewer=request.user,
            claim_token=request.POST.get("claim_token", ""),
            reason=request.POST.get("reason", ""),
        )
    except SkipInvalid as invalid:
        return _render(request, task, status=422, skip_errors=invalid.errors)
    except ClaimLost as lost:
        return _render(request, task, status=409, claim_lost=str(lost))
    return _next(request, task, "Skipped")


@require_GET
@login_required
def pairwise_results(request: HttpRequest, slug: str) -> HttpResponse:
    """Each champion/candidate pair of the workflow: comparisons, ties and win rates."""
    workflow = get_workflow_for_user(request.user, slug)
    return render(
        request,
        "pairwise/results.html",
        {"workflow": workflow, "matchups": matchups(workflow_id=workflow.pk)},
    )
