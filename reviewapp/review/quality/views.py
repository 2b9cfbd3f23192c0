"""Managers' pages for reviewer quality: figures per reviewer, settings, gold items.

Every page needs the manage permission on the queue; anyone else gets 404.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core.errors import Conflict, InvalidRequest, refusal_message
from reviewapp.core.permissions import MANAGE_QUEUE
from reviewapp.review.quality.agreement import queue_agreement
from reviewapp.review.quality.inputs import QueueQualityInput
from reviewapp.review.quality.models import GoldItem
from reviewapp.review.quality.selectors import (
    gold_items_for_queue,
    queue_quality_for,
    reviewer_quality,
)
from reviewapp.review.quality.services import gold_item_add, gold_item_retire, queue_quality_set
from reviewapp.review.reviews.access import get_queue_for_user, queues_for_user
from reviewapp.review.sla.charts import Series, line_chart

NO_FIGURE = "\N{EN DASH}"


def _percent(value: float | None) -> str:
    return NO_FIGURE if value is None else f"{value:.0%}"


@require_GET
@login_required
def queue_quality(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    rows = [
        {
            "quality": row,
            "gold_accuracy": _percent(row.gold_accuracy),
            "agreement_rate": _percent(row.agreement_rate),
        }
        for row in reviewer_quality(queues=[queue])
    ]
    agreement = queue_agreement(queue)
    return render(
        request,
        "quality/queue_quality.html",
        {
            "queue": queue,
            "rows": rows,
            "settings": queue_quality_for(queue),
            "agreement": agreement,
            "agreement_chart": line_chart(
                title="Agreement on the whole answer (Krippendorff's alpha), week by week",
                labels=[week for week, _ in agreement.trend],
                # A week without pairs is drawn at 0 and read out as "no pairs" in the table.
                series=[Series("alpha", [max(value or 0.0, 0.0) for _, value in agreement.trend])],
            )
            if any(value is not None for _, value in agreement.trend)
            else None,
            "senior_choices": queues_for_user(request.user, MANAGE_QUEUE)
            .filter(workflow_id=queue.workflow_id)
            .exclude(pk=queue.pk)
            .order_by("name"),
        },
    )


@require_POST
@login_required
def queue_quality_settings(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    try:
        values = QueueQualityInput.checked(
            QueueQualityInput.from_form(request.POST),
            partial=True,
            senior_queue=queues_for_user(request.user, MANAGE_QUEUE),
        )
        queue_quality_set(queue=queue, acting_user=request.user, **values)
    except InvalidRequest as refused:
        messages.error(request, refusal_message(refused))
    else:
        messages.success(request, "Quality settings saved.")
    return redirect("quality-queue", queue_id=queue.pk)


def _json_object(text: str, name: str, errors: dict[str, list[str]]):
    """Parse one JSON field of the gold form; a problem becomes a message for that field."""
    try:
        return json.loads(text)
    except ValueError:
        errors[name] = ['Write it as JSON, for example {"label": "billing"}.']
        return None


@login_required
def gold_items(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    form = {"input": "", "expected_output": "", "proposed_output": ""}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        form = {name: request.POST.get(name, "").strip() for name in form}
        parsed = {
            name: _json_object(form[name], name, errors) for name in ("input", "expected_output")
        }
        proposed = (
            _json_object(form["proposed_output"], "proposed_output", errors)
            if form["proposed_output"]
            else None
        )
        if not errors:
            try:
                gold_item_add(
                    queue=queue,
                    acting_user=request.user,
                    input=parsed["input"],
                    expected_output=parsed["expected_output"],
                    proposed_output=proposed,
                )
            except InvalidRequest as refused:
                errors = refused.errors
            else:
                messages.success(request, "Gold item added.")
                return redirect("quality-gold", queue_id=queue.pk)
        status = 400
    return render(
        request,
        "quality/gold_items.html",
        {
            "queue": queue,
            "gold_items": gold_items_for_queue(queue),
            "form": form,
            "errors": sorted(errors.items()),
        },
        status=status,
    )


@require_POST
@login_required
def gold_item_retire_page(request: HttpRequest, queue_id: int, gold_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    gold = get_object_or_404(GoldItem, pk=gold_id, queue=queue)
    try:
        gold_item_retire(gold=gold, acting_user=request.user)
    except Conflict as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Gold item {gold.pk} retired.")
    return redirect("quality-gold", queue_id=queue.pk)
