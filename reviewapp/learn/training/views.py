"""The canary page: start, follow and stop a canary release; retrain from a release."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from reviewapp.core.errors import QuotaExceeded, refusal_message
from reviewapp.core.permissions import RELEASE_MODELS, user_can
from reviewapp.core.untrusted import whole_number
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.training.canary import (
    CanaryConflict,
    CanaryInvalid,
    arm_metrics,
    canary_gates,
    canary_start,
    canary_stop,
    canary_win_rate,
    pairwise_gate_on,
)
from reviewapp.learn.training.selectors import candidate_models, training_runs_for_workflow
from reviewapp.learn.training.services import RetrainConflict, RetrainForbidden, model_retrain
from workflows.access import get_workflow_for_user, models_for_team
from workflows.models import CanaryStatus


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
        except (RetrainConflict, RetrainForbidden, QuotaExceeded) as refused:
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
                model = get_object_or_404(
                    models_for_team(workflow.team), pk=_int(request.POST.get("candidate"))
                )
                canary_start(
                    workflow=workflow,
                    candidate=model,
                    percent=_int(request.POST.get("percent")),
                    min_sample=_int(request.POST.get("min_sample")),
                    acting_user=request.user,
                    gates=_pairwise_gates(request.POST),
                )
                messages.success(request, f"{model} now serves part of the traffic.")
        except (CanaryInvalid, CanaryConflict) as refused:
            messages.error(request, refusal_message(refused))
        return redirect("canary-page", slug=workflow.slug)
    arms = None
    win_rate = None
    if live is not None:
        stable, candidate = arm_metrics(live, live.stable), arm_metrics(live, live.candidate)
        win_rate = canary_win_rate(live) if pairwise_gate_on(live) else None
        arms = {
            "stable": stable,
            "candidate": candidate,
            "gates": canary_gates(live, stable, candidate, win_rate),
        }
    return render(
        request,
        "workflows/canary.html",
        {
            "workflow": workflow,
            "live": live,
            "arms": arms,
            "win_rate": win_rate,
            "history": workflow.canaries.select_related("stable", "candidate")[:20],
            "may_release": may_release,
            "candidates": candidate_models(workflow),
            "releases": DatasetExport.objects.filter(
                workflow=workflow, status=ExportStatus.READY
            ).order_by("-release_version"),
            "training_runs": training_runs_for_workflow(workflow)[:10],
        },
    )


def _pairwise_gates(data) -> dict:
    """The optional pairwise gate of the start form; left empty, the defaults (no gate)."""
    gates: dict = {}
    if data.get("pairwise_min_comparisons"):
        gates["pairwise_min_comparisons"] = _int(data.get("pairwise_min_comparisons"))
    share = data.get("pairwise_min_win_rate", "")
    if share:
        try:
            gates["pairwise_min_win_rate"] = float(share)
        except ValueError:
            gates["pairwise_min_win_rate"] = -1.0  # refused by the service with its message
    return gates


def _int(value: str | None) -> int:
    """A typed number, or 0 (refused by the service with its own message)."""
    if value and value.startswith("-"):
        return -(whole_number(value[1:]) or 0)
    return whole_number(value) or 0
