from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewapp.audit.selectors import events_for_object
from reviewapp.datasets.models import DatasetExport, ExportStatus
from reviewapp.errors import refusal_message
from reviewapp.permissions import (
    RELEASE_MODELS,
    get_item_for_user,
    get_workflow_for_user,
    user_can,
    workflows_for_user,
)
from workflows.act.webhooks import webhook_redeliver
from workflows.breaker import breakers
from workflows.canary import (
    CanaryConflict,
    CanaryInvalid,
    arm_metrics,
    canary_gates,
    canary_start,
    canary_stop,
)
from workflows.engine import (
    ItemActionInvalid,
    ItemStateConflict,
    item_dead_letter_discard,
    item_dead_letter_retry,
)
from workflows.models import CanaryStatus, ModelVersion
from workflows.selectors import (
    dead_letters,
    item_decision,
    item_input_fields,
    item_prediction,
    training_runs_for_workflow,
)
from workflows.simulator import policy_simulate
from workflows.training import RetrainConflict, RetrainForbidden, model_retrain


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


@require_GET
@login_required
def policy_simulator(request: HttpRequest, slug: str) -> HttpResponse:
    """Try another confidence threshold on recent items before changing the definition."""
    workflow = get_workflow_for_user(request.user, slug)
    assert workflow.current_version is not None
    policy = workflow.current_version.definition["routing"]
    error = ""
    try:
        threshold = float(request.GET.get("threshold", policy["threshold"]))
        last = int(request.GET.get("last", 1000))
    except ValueError:
        threshold, last, error = policy["threshold"], 1000, "Give numbers for both fields."
    if not 0 <= threshold <= 1 or not 1 <= last <= 100_000:
        threshold, last = policy["threshold"], 1000
        error = "The threshold goes from 0 to 1 and the number of items from 1 to 100000."
    current = policy_simulate(workflow=workflow, policy=policy, last=last)
    candidate = policy_simulate(
        workflow=workflow, policy=policy | {"threshold": threshold}, last=last
    )
    return render(
        request,
        "workflows/simulate.html",
        {
            "workflow": workflow,
            "threshold": threshold,
            "current_threshold": policy["threshold"],
            "last": last,
            "error": error,
            "total": (current.total, candidate.total),
            # The same items are replayed both times, so both have the same labels.
            "per_class": [
                (label, current.per_class[label], tally)
                for label, tally in sorted(candidate.per_class.items())
            ],
        },
        status=422 if error else 200,
    )


@require_GET
@login_required
def dead_letter_list(request: HttpRequest) -> HttpResponse:
    workflows = workflows_for_user(request.user)
    return render(
        request,
        "workflows/dead_letters.html",
        {"items": dead_letters(workflows), "breakers": breakers(), "workflows": workflows},
    )


@require_POST
@login_required
def dead_letter_act(request: HttpRequest, item_id: int, action: str) -> HttpResponse:
    item = get_item_for_user(request.user, item_id)
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


@login_required
def canary_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The split, the two arms' numbers and each gate's verdict; start and stop canaries."""
    workflow = get_workflow_for_user(request.user, slug)
    assert workflow.current_version is not None
    may_release = user_can(request.user, RELEASE_MODELS, workflow)
    live = workflow.canaries.filter(
        status__in=[CanaryStatus.RUNNING, CanaryStatus.PROMOTED]
    ).first()
    if request.method == "POST" and "retrain" in request.POST:
        if not may_release:
            raise Http404("No such workflow.")
        release = get_object_or_404(
            DatasetExport, pk=_int(request.POST.get("release")), workflow=workflow
        )
        try:
            model_retrain(release=release, acting_user=request.user)
            messages.success(request, f"Retraining from release {release.release_name} queued.")
        except (RetrainConflict, RetrainForbidden) as refused:
            messages.error(request, str(refused))
        return redirect("canary-page", slug=workflow.slug)
    if request.method == "POST":
        if not may_release:
            raise Http404("No such workflow.")
        try:
            if "stop" in request.POST and live is not None:
                canary_stop(canary=live, acting_user=request.user)
                messages.success(request, "The canary is stopped; the stable model serves all.")
            else:
                model = get_object_or_404(ModelVersion, pk=request.POST.get("candidate"))
                canary_start(
                    workflow=workflow,
                    candidate=model,
                    percent=_int(request.POST.get("percent")),
                    min_sample=_int(request.POST.get("min_sample")),
                    acting_user=request.user,
                )
                messages.success(request, f"{model} now serves part of the traffic.")
        except (CanaryInvalid, CanaryConflict) as refused:
            messages.error(request, refusal_message(refused))
        return redirect("canary-page", slug=workflow.slug)
    arms = None
    if live is not None:
        stable, candidate = arm_metrics(live, live.stable), arm_metrics(live, live.candidate)
        arms = {
            "stable": stable,
            "candidate": candidate,
            "gates": canary_gates(live, stable, candidate),
        }
    binding = workflow.current_version.definition["model"]
    return render(
        request,
        "workflows/canary.html",
        {
            "workflow": workflow,
            "live": live,
            "arms": arms,
            "history": workflow.canaries.select_related("stable", "candidate")[:20],
            "may_release": may_release,
            "candidates": ModelVersion.objects.exclude(
                name=binding["name"], version=binding["version"]
            ).order_by("name", "version"),
            "releases": DatasetExport.objects.filter(
                workflow=workflow, status=ExportStatus.READY
            ).order_by("-release_version"),
            "training_runs": training_runs_for_workflow(workflow)[:10],
        },
    )


def _int(value: str | None) -> int:
    return int(value) if value and value.lstrip("-").isdigit() else 0
