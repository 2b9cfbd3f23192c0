from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewapp.audit.selectors import events_for_object
from reviewapp.permissions import get_item_for_user
from workflows.act.webhooks import webhook_redeliver
from workflows.selectors import item_decision, item_prediction


@require_GET
@login_required
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_item_for_user(request.user, item_id)
    return render(
        request,
        "workflows/item.html",
        {
            "item": item,
            "prediction": item_prediction(item),
            "decision": item_decision(item),
            "step_runs": item.step_runs.all(),
            "tasks": item.tasks.select_related("queue", "claimed_by"),
            "events": events_for_object(item),
            "deliveries": item.deliveries.prefetch_related("attempt_log"),
        },
    )


@require_POST
@login_required
def item_redeliver(request: HttpRequest, item_id: int, delivery_id: int) -> HttpResponse:
    item = get_item_for_user(request.user, item_id)
    delivery = get_object_or_404(item.deliveries, pk=delivery_id)
    webhook_redeliver(delivery=delivery, acting_user=request.user)
    messages.success(request, "The webhook will be sent again in a moment.")
    return redirect("item-detail", item_id=item.pk)
