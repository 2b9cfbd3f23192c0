"""Pages operators use: an item's story across every stage, dead letters, redelivery."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core.audit.export import audit_export_rows, form_errors_text
from reviewapp.core.audit.forms import AuditFilterForm
from reviewapp.core.audit.search import (
    KNOWN_ACTIONS,
    BadCursor,
    cursor_decode,
    cursor_encode,
    events_all,
    events_page,
)
from reviewapp.core.audit.selectors import events_for_object
from reviewapp.core.audit.services import SYSTEM_CHAIN, audit_verify
from reviewapp.core.errors import refusal_message
from reviewapp.core.http import HtmxHttpRequest
from reviewapp.core.humanize import duration_text
from reviewapp.core.permissions import OPERATE_WORKFLOW, is_operator, user_can
from reviewapp.operations.selectors import dead_letters, item_decision, pipeline_health
from reviewapp.operations.stalls import stalls
from reviewapp.review.reviews.access import get_item_for_user, get_item_to_operate
from workflows.access import model_keys_for_user, workflows_for_user
from workflows.act.webhooks import webhook_redeliver
from workflows.pipeline.breaker import breakers
from workflows.pipeline.engine import (
    ItemActionInvalid,
    ItemStateConflict,
    item_dead_letter_discard,
    item_dead_letter_retry,
)
from workflows.selectors import item_input_fields, item_prediction, items_waiting


@require_GET
@login_required
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_item_for_user(request.user, item_id)
    return render(
        request,
        "workflows/item.html",
        {
            "item": item,
            "input_fields": item_input_fields(item),
            "prediction": item_prediction(item),
            "decision": item_decision(item),
            "step_runs": item.step_runs.all(),
            "judge_scores": item.judge_scores.select_related("judge").order_by("rubric"),
            "tasks": item.tasks.select_related("queue", "claimed_by"),
            "events": events_for_object(item),
            "deliveries": item.deliveries.prefetch_related("attempt_log"),
            "may_operate": user_can(request.user, OPERATE_WORKFLOW, item.workflow),
        },
    )


@require_POST
@login_required
def item_redeliver(request: HttpRequest, item_id: int, delivery_id: int) -> HttpResponse:
    item = get_item_to_operate(request.user, item_id)
    delivery = get_object_or_404(item.deliveries, pk=delivery_id)
    webhook_redeliver(delivery=delivery, acting_user=request.user)
    messages.success(request, "The webhook will be sent again in a moment.")
    return redirect("item-detail", item_id=item.pk)


@require_GET
@login_required
def dead_letter_list(request: HttpRequest) -> HttpResponse:
    """The Pipeline page: processes and sweeps (for operators), items waiting, endpoints, dead
    letters."""
    workflows = workflows_for_user(request.user)
    now = timezone.now()
    context = {
        "items": dead_letters(workflows),
        # Only the endpoints of models these workflows may call: another team's endpoint names
        # and error messages are theirs.
        "breakers": breakers(keys=model_keys_for_user(request.user)),
        "workflows": workflows,
        "operable": {w.pk for w in workflows_for_user(request.user, OPERATE_WORKFLOW)},
        "waiting": [(row, duration_text(now - row.oldest)) for row in items_waiting(workflows)],
    }
    if is_operator(request.user):
        context |= {"health": pipeline_health()}
    return render(request, "workflows/dead_letters.html", context)


@require_GET
@login_required
def stall_banner(request: HttpRequest) -> HttpResponse:
    """The banner every page asks for: stalls, to managers and operators. Others are told to
    stop asking (htmx stops polling on 286)."""
    if not is_operator(request.user):
        return HttpResponse(status=286)
    return render(request, "operations/_stall_banner.html", {"stalls": stalls()})


@require_POST
@login_required
def dead_letter_act(request: HttpRequest, item_id: int, action: str) -> HttpResponse:
    item = get_item_to_operate(request.user, item_id)
    try:
        if action == "retry":
            item_dead_letter_retry(item=item, acting_user=request.user)
            messages.success(request, f"Item {item.pk} is running again.")
        else:
            item_dead_letter_discard(
                item=item, acting_user=request.user, reason=request.POST.get("reason", "")
            )
            messages.success(request, f"Item {item.pk} was discarded.")
    except (ItemStateConflict, ItemActionInvalid) as refused:
        messages.error(request, refusal_message(refused))
    return redirect("dead-letter-list")


def _audit_chains(request: HttpRequest) -> list[str]:
    """Events of the workflows the user may see; the system chain only for superusers."""
    chains = [workflow.audit_chain for workflow in workflows_for_user(request.user)]
    if request.user.is_superuser:
        chains.append(SYSTEM_CHAIN)
    return chains


@require_GET
@login_required
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    chains = _audit_chains(request)
    report = audit_verify(chains) if request.GET.get("verify") else None
    form = AuditFilterForm(request.GET)
    events: list = []
    next_cursor = ""
    problem = ""
    status = 200
    if form.is_valid():
        try:
            after = cursor_decode(request.GET["after"]) if request.GET.get("after") else None
        except BadCursor:
            problem, status = (
                "That page link is not valid any more; showing the newest events.",
                400,
            )
            after = None
        events, more = events_page(chains, form.audit_filter(), after=after)
        if more is not None:
            next_cursor = cursor_encode(events[-1])
    else:
        status = 400
    query = request.GET.copy()
    query.pop("after", None)
    query.pop("verify", None)
    context = {
        "events": events,
        "report": report,
        "form": form,
        "problem": problem,
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "paged": bool(request.GET.get("after")),
        "known_actions": KNOWN_ACTIONS,
    }
    template = "audit/audit_list.html#results" if request.htmx else "audit/audit_list.html"
    return render(request, template, context, status=status if not request.htmx else 200)


@require_GET
@login_required
def audit_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The filtered events as CSV or JSON lines, streamed in keyset batches."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        messages.error(request, "The export needs valid filters: " + form_errors_text(form))
        return redirect(f"{reverse('audit-list')}?{request.GET.urlencode()}")
    rows = audit_export_rows(events_all(_audit_chains(request), form.audit_filter()), fmt)
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse(rows, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response
