"""Reviewer pages: my queues, review next, the review page (with its correction form generated
from the output schema and the live changes panel), submit and next, the claim's heartbeat
and skip."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url

from reviewapp.core.http import HtmxHttpRequest
from reviewapp.core.humanize import duration_text
from reviewapp.core.markdown_text import markdown_html
from reviewapp.core.untrusted import whole_number
from reviewapp.review.corrections.selectors import reason_choices
from reviewapp.review.corrections.services import output_diff
from reviewapp.review.quality.selectors import four_eyes_for_task
from reviewapp.review.reviews.access import (
    REVIEW_PAGE_RELATED,
    get_queue_for_user,
    get_task_for_user,
    queues_for_user,
)
from reviewapp.review.reviews.claims import (
    SKIP_REASON_MAX_LENGTH,
    ClaimLost,
    SkipInvalid,
    review_task_claim,
    review_task_extend,
    review_task_skip,
)
from reviewapp.review.reviews.decisions import AlreadyDecided, DecisionInvalid, review_task_decide
from reviewapp.review.reviews.eligibility import CapacityReached, SkillsMissing
from reviewapp.review.reviews.models import DecisionOutcome, QueueKind, ReviewTask, TaskStatus
from reviewapp.review.reviews.my_work import my_work
from reviewapp.review.reviews.schema_form import (
    PREFIX,
    form_fields,
    form_parse,
    submitted_fields,
    value_text,
)
from reviewapp.review.reviews.selectors import item_history, queues_with_counts
from reviewapp.review.reviews.undo import UndoRefused, review_decision_undo
from workflows.selectors import item_field_confidence, item_input_fields

logger = logging.getLogger(__name__)


@require_GET
@login_required
def queue_list(request: HtmxHttpRequest) -> HttpResponse:
    queues = queues_with_counts(queues_for_user(request.user), reviewer=request.user)
    return render(request, "reviews/queue_list.html", {"queues": queues})


# What the three outcomes are called on the page: an approval (an agent's proposed action) is
# approved as asked, approved with edited arguments, or denied.
OUTCOME_WORDS = {"accept": "Accept", "correct": "Correct", "reject": "Reject"}
APPROVAL_OUTCOME_WORDS = {"accept": "Approve", "correct": "Approve with edits", "reject": "Deny"}


def _review_context(task: ReviewTask, request: HtmxHttpRequest, **extra) -> dict:
    item = task.item
    definition = item.workflow_version.definition
    holds_claim = task.status == TaskStatus.CLAIMED and task.claimed_by_id == request.user.pk
    prediction = item.prediction
    # Below the workflow's review threshold the model was unsure: those fields are flagged.
    low_below = definition.get("routing", {}).get("threshold")
    field_confidence = item_field_confidence(item)
    fields = form_fields(
        definition=definition,
        item_input=item.input,
        output=prediction.output,
        errors=extra.get("errors"),
        confidence=field_confidence,
        low_below=low_below,
    )
    reasons = reason_choices(workflow=item.workflow)
    # Only a four-eyes item can have a pair's answers to show (to its senior reviewer).
    four_eyes = four_eyes_for_task(task) if item.routing.get("action") == "four_eyes" else None
    guidelines = definition.get("guidelines", "").strip()
    # The first choice field (the label, as a rule) is picked with the number keys 1-9.
    label_field = next((field for field in fields if field.kind == "choice"), None)
    submitted = extra.get("submitted")
    if submitted is not None and submitted.get("outcome") == DecisionOutcome.CORRECT:
        fields = submitted_fields(fields, submitted)
    return {
        "task": task,
        "queue": task.queue,
        "item": item,
        "input_fields": item_input_fields(item),
        "prediction": prediction,
        "low_confidence": low_below is not None and prediction.confidence < low_below,
        "low_below": low_below,
        "probabilities": sorted(
            prediction.probabilities.items(), key=lambda pair: pair[1], reverse=True
        ),
        "fields": fields,
        "low_fields": [field for field in fields if field.low_confidence],
        "reasons_correct": reasons[DecisionOutcome.CORRECT],
        "reasons_reject": reasons[DecisionOutcome.REJECT],
        "holds_claim": holds_claim,
        "four_eyes": four_eyes,
        "history": item_history(
            item, only_task=task if four_eyes and four_eyes.role != "senior" else None
        ),
        "outcomes": DecisionOutcome,
        "outcome_words": APPROVAL_OUTCOME_WORDS if "approval" in definition else OUTCOME_WORDS,
        "skip_reason_max_length": SKIP_REASON_MAX_LENGTH,
        "guidelines": markdown_html(guidelines) if guidelines else "",
        "label_keys": list(enumerate(label_field.options[:9], start=1)) if label_field else [],
        "label_field": label_field,
        "min_dwell_ms": settings.REVIEWAPP_REVIEW_MIN_DWELL_MS,
        **extra,
    }


def _render_review(request, task, *, status=200, **extra) -> HttpResponse:
    template = "reviews/review.html#panel" if request.htmx else "reviews/review.html"
    return render(request, template, _review_context(task, request, **extra), status=status)


def _render_empty(request, queue, *, status=200, **context) -> HttpResponse:
    template = "reviews/review.html#empty" if request.htmx else "reviews/empty.html"
    return render(request, template, {"queue": queue, **context}, status=status)


@require_POST
@login_required
def queue_next(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id)
    try:
        task = review_task_claim(queue=queue, reviewer=request.user)
    except (CapacityReached, SkillsMissing) as refused:
        messages.error(request, str(refused))
        return redirect("queue-list")
    if task is None:
        return _render_empty(request, queue)
    if queue.kind == QueueKind.PAIRWISE:
        return redirect("pairwise-task", task_id=task.pk)
    return redirect("review-task", task_id=task.pk)


@require_GET
@login_required
def review_task(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    task = get_task_for_user(request.user, task_id, related=REVIEW_PAGE_RELATED)
    if task.queue.kind == QueueKind.PAIRWISE:
        return redirect("pairwise-task", task_id=task.pk)
    return _render_review(request, task)


@require_POST
@login_required
def review_decide(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    task = get_task_for_user(request.user, task_id)
    outcome = request.POST.get("outcome", "")
    reason_field = "reason_codes_reject" if outcome == DecisionOutcome.REJECT else "reason_codes"
    output = None
    try:
        if outcome == DecisionOutcome.CORRECT:
            output, form_errors = form_parse(
                definition=task.item.workflow_version.definition,
                item_input=task.item.input,
                data=request.POST,
            )
            if form_errors:
                raise DecisionInvalid(form_errors)
        review_task_decide(
            task=task,
            reviewer=request.user,
            claim_token=request.POST.get("claim_token", ""),
            outcome=outcome,
            output=output or None,
            reason_codes=request.POST.getlist(reason_field),
            comment=request.POST.get("comment", "").strip(),
            time_spent_ms=_int_or_none(request.POST.get("time_spent_ms")),
        )
    except DecisionInvalid as invalid:
        # What the reviewer chose comes back checked: only the mistake is left to fix.
        return _render_review(
            request,
            task,
            status=422,
            errors=invalid.errors,
            submitted=request.POST,
            changes=_changes(task, request.POST) if outcome == DecisionOutcome.CORRECT else None,
            chosen_reasons=request.POST.getlist("reason_codes"),
            chosen_reject_reasons=request.POST.getlist("reason_codes_reject"),
        )
    except ClaimLost as lost:
        return _render_review(
            request,
            task,
            status=409,
            claim_lost=str(lost),
            decided_before=isinstance(lost, AlreadyDecided),
        )
    return _next_after_decision(request, task)


@require_POST
@login_required
def review_undo(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    """Take back the reviewer's last decision: the task is theirs to decide again."""
    task = get_task_for_user(request.user, task_id)
    try:
        task = review_decision_undo(task=task, reviewer=request.user)
    except UndoRefused as refused:
        messages.error(request, str(refused))
        if request.htmx:
            return HttpResponseClientRedirect(reverse("my-work"))
        return redirect("my-work")
    task = get_task_for_user(request.user, task.pk, related=REVIEW_PAGE_RELATED)
    if not request.htmx:
        messages.success(request, "Decision undone: decide this task again.")
        return redirect("review-task", task_id=task.pk)
    response = _render_review(request, task, undone=True)
    return push_url(response, reverse("review-task", args=[task.pk]))


@require_GET
@login_required
def my_work_page(request: HtmxHttpRequest) -> HttpResponse:
    """The reviewer's own page: held tasks, today's figures, gold accuracy, where to go next."""
    work = my_work(reviewer=request.user)
    queues = queues_with_counts(queues_for_user(request.user), reviewer=request.user)
    accuracy = work.gold_accuracy
    context = {
        "work": work,
        "queues": queues,
        "median_time": _decision_time(work.median_time),
        "gold_accuracy": None if accuracy is None else f"{accuracy:.0%}",
    }
    return render(request, "reviews/my_work.html", context)


@require_POST
@login_required
def review_changes(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    """The changes panel: what the correction form would change in the model's output.

    Asked by the page (htmx) as the reviewer edits; saves nothing."""
    task = get_task_for_user(request.user, task_id)
    return render(
        request,
        "reviews/review.html#changes",
        {"task": task, "changes": _changes(task, request.POST)},
    )


def _changes(task: ReviewTask, data) -> dict:
    """The field-level diff the correction would record (the corrections' own diff), leaving
    out fields that do not parse yet, which are listed apart."""
    item = task.item
    output, errors = form_parse(
        definition=item.workflow_version.definition, item_input=item.input, data=data
    )
    unparsed = sorted(key.removeprefix(PREFIX) for key in errors)
    diff = output_diff(item.prediction.output, output)
    return {
        "fields": {
            name: {"before": value_text(change["before"]), "after": value_text(change["after"])}
            for name, change in diff.items()
            if name not in unparsed
        },
        "unparsed": unparsed,
    }


@require_POST
@login_required
def review_heartbeat(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    """Extend the claim: polled by the open page (htmx), or its "Extend" button without JS."""
    task = get_task_for_user(request.user, task_id)
    try:
        task = review_task_extend(
            task=task, reviewer=request.user, claim_token=request.POST.get("claim_token", "")
        )
    except ClaimLost as lost:
        if request.htmx:
            # The lease line turns into an alert and, without its trigger, polling stops.
            context = {"task": task, "claim_lost": str(lost)}
            return render(request, "reviews/review.html#lease", context, status=409)
        return _render_review(request, task, status=409, claim_lost=str(lost))
    if request.htmx:
        return render(request, "reviews/review.html#lease", {"task": task, "holds_claim": True})
    messages.success(
        request, f"Claim extended until {timezone.localtime(task.lease_expires_at):%H:%M %Z}."
    )
    return redirect("review-task", task_id=task.pk)


@require_POST
@login_required
def review_skip(request: HtmxHttpRequest, task_id: int) -> HttpResponse:
    """Skip with a reason, then on to the next task (never the skipped one) as after a decision."""
    task = get_task_for_user(request.user, task_id)
    reason = request.POST.get("reason", "")
    try:
        review_task_skip(
            task=task,
            reviewer=request.user,
            claim_token=request.POST.get("claim_token", ""),
            reason=reason,
        )
    except SkipInvalid as invalid:
        return _render_review(
            request, task, status=422, skip_errors=invalid.errors, skip_reason=reason
        )
    except ClaimLost as lost:
        return _render_review(request, task, status=409, claim_lost=str(lost))
    return _next_after_decision(request, task, done="Task skipped")


def _next_after_decision(
    request: HtmxHttpRequest, task: ReviewTask, *, done: str = "Decision saved"
) -> HttpResponse:
    """Submit and next: claim the following task of the same queue without a full reload.

    The decision is committed by now: if the next task cannot be loaded (the database went
    away between the two, in the claim or while the next task's page is read and rendered),
    the reviewer reads that the decision is saved, not an error page."""
    try:
        return _claim_and_show_next(request, task, done=done)
    except DatabaseError:
        logger.warning("decision on task %s saved; the next claim failed", task.pk, exc_info=True)
        return _render_empty(request, task.queue, next_unavailable=True, saved=f"{done}.")


def _claim_and_show_next(request: HtmxHttpRequest, task: ReviewTask, *, done: str) -> HttpResponse:
    try:
        next_task = review_task_claim(queue=task.queue, reviewer=request.user)
    except (CapacityReached, SkillsMissing) as refused:
        messages.error(request, f"{done}. {refused}")
        return (
            HttpResponseClientRedirect(reverse("queue-list"))
            if request.htmx
            else redirect("queue-list")
        )
    if not request.htmx:
        if next_task is None:
            messages.success(request, f"{done}. {task.queue.name} is empty for now.")
            return redirect("queue-list")
        messages.success(request, f"{done}.")
        return redirect("review-task", task_id=next_task.pk)
    if next_task is None:
        return _render_empty(request, task.queue)
    next_task = get_task_for_user(request.user, next_task.pk, related=REVIEW_PAGE_RELATED)
    # A decision (not a skip) can be taken back from the next task's page.
    undo_task = task if done == "Decision saved" else None
    response = _render_review(request, next_task, saved=done, undo_task=undo_task)
    return push_url(response, reverse("review-task", args=[next_task.pk]))


def _decision_time(span) -> str | None:
    if span is None:
        return None
    # Most decisions take seconds: tenths matter there, whole units beyond a minute.
    seconds = span.total_seconds()
    return f"{seconds:.1f} s" if seconds < 60 else duration_text(span)


def _int_or_none(value: str | None) -> int | None:
    number = whole_number(value)
    # A time beyond the 32-bit column is no measurement: not recorded.
    return number if number is not None and number < 2**31 else None
