"""The threshold simulator page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from workflows.access import get_workflow_for_user
from workflows.pipeline.simulator import policy_simulate


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
