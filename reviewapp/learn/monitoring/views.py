"""The monitoring page of a workflow: how accurate its auto-accepted answers are, as the QA
sample shows, and how well its confidences match what reviewers found."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from reviewapp.core.permissions import RELEASE_MODELS, user_can
from reviewapp.learn.monitoring.selectors import auto_accept_accuracy, reviewed_calibration
from reviewapp.learn.monitoring.services import (
    DEFAULT_MIN_SAMPLES,
    NothingRaised,
    accuracy_floor,
    qa_sample_rate_reset,
)
from reviewapp.review.sla.charts import Series, bar_chart, legend
from workflows.access import get_workflow_for_user


@login_required
def monitoring_page(request: HttpRequest, slug: str) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, slug)
    may_reset = user_can(request.user, RELEASE_MODELS, workflow)
    if request.method == "POST":
        if not may_reset:
            raise Http404("No such workflow.")
        try:
            qa_sample_rate_reset(workflow=workflow, acting_user=request.user)
            messages.success(request, "Reviewers check the policy's share of answers again.")
        except NothingRaised as refused:
            messages.error(request, str(refused))
        return redirect("monitoring-page", slug=workflow.slug)
    days = settings.REVIEWAPP_ACCURACY_WINDOW_DAYS
    accuracy = auto_accept_accuracy(workflow, days=days)
    reliability = reviewed_calibration(workflow, days=days)
    labels = [f"{b.low:.1f} to {b.high:.1f}" for b in reliability.bins]
    series = [
        Series("stated confidence (%)", [round(b.mean_confidence * 100) for b in reliability.bins]),
        Series(
            "accepted by reviewers (%)",
            [round(b.share_correct * 100) for b in reliability.bins],
            "series-2",
        ),
    ]
    floor = accuracy_floor(workflow)
    current = workflow.current_version.number if workflow.current_version else None
    return render(
        request,
        "learn/monitoring.html",
        {
            "workflow": workflow,
            "days": days,
            "accuracy": accuracy,
            "current": current,
            "current_accuracy": accuracy.total(current) if current is not None else None,
            "floor": floor,
            "min_samples": int((floor or {}).get("min_samples", DEFAULT_MIN_SAMPLES)),
            "reliability": reliability,
            "reliability_chart": bar_chart(
                title="Stated confidence against reviewers' accepts, by confidence",
                labels=labels,
                series=series,
            )
            if reliability.bins
            else None,
            "reliability_legend": legend(series),
            "may_reset": may_reset,
        },
    )
