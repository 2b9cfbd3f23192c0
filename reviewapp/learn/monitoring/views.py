"""The monitoring page of a workflow: how accurate its auto-accepted answers are, as the QA
sample shows, and how well its confidences match what reviewers found."""

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from reviewapp.core.errors import refusal_message
from reviewapp.core.permissions import RELEASE_MODELS, user_can
from reviewapp.core.spreadsheets import neutralise_formula
from reviewapp.core.untrusted import whole_number
from reviewapp.learn.monitoring.costs import CostLine, outcome_costs
from reviewapp.learn.monitoring.drift import recent_checks
from reviewapp.learn.monitoring.selectors import auto_accept_accuracy, reviewed_calibration
from reviewapp.learn.monitoring.services import (
    DEFAULT_MIN_SAMPLES,
    NothingRaised,
    accuracy_floor,
    qa_sample_rate_reset,
)
from reviewapp.learn.monitoring.shadow import (
    ShadowConflict,
    ShadowInvalid,
    latest_shadow,
    shadow_comparison,
    shadow_start,
    shadow_stop,
)
from reviewapp.learn.training.selectors import candidate_models
from reviewapp.review.judges.selectors import judge_panel
from reviewapp.review.sla.charts import Series, bar_chart, legend, line_chart
from workflows.access import get_workflow_for_user
from workflows.models import ItemOutcome, ModelAdapterKind

OUTCOME_NAMES = dict(ItemOutcome.choices) | {"reviewed": "Reviewed (all three)"}


@login_required
def monitoring_page(request: HttpRequest, slug: str) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, slug)
    may_reset = user_can(request.user, RELEASE_MODELS, workflow)
    shadow = latest_shadow(workflow)
    if request.method == "POST":
        if not may_reset:
            raise Http404("No such workflow.")
        _act(request, workflow, shadow)
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
    costs = outcome_costs(workflow, days=days)
    days_shown = sorted(costs.by_day)
    cost_series = [
        Series("model", [round(costs.by_day[d].model, 4) for d in days_shown]),
        Series("review", [round(costs.by_day[d].human, 4) for d in days_shown], "series-2"),
    ]
    checks = [check for check in recent_checks(workflow) if check.features]
    drift_series = [
        Series("largest PSI", [max(_psis(check), default=0.0) for check in checks]),
        Series(
            "predicted label PSI",
            [max(_psis(check, "label"), default=0.0) for check in checks],
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
            "cost_rows": [
                (version, OUTCOME_NAMES.get(outcome, outcome), line)
                for (version, outcome), line in sorted(
                    costs.by_outcome.items(), key=lambda entry: (-entry[0][0], entry[0][1])
                )
            ],
            "cost_chart": bar_chart(
                title="Cost of completed items per day, model and review",
                labels=[f"{d:%m-%d}" for d in days_shown],
                series=cost_series,
            )
            if days_shown
            else None,
            "cost_legend": legend(cost_series),
            "shadow": shadow,
            "shadow_comparison": shadow_comparison(shadow) if shadow else None,
            # A judge scores answers and cannot answer in the shadow.
            "candidates": candidate_models(workflow).exclude(adapter=ModelAdapterKind.JUDGE)
            if may_reset
            else [],
            "judges": judge_panel(workflow),
            "drift": checks[-1] if checks else None,
            "drift_chart": line_chart(
                title="Drift of the recent window, check by check",
                labels=[f"{check.checked_at:%m-%d %H:%M}" for check in checks],
                series=drift_series,
            )
            if len(checks) > 1
            else None,
            "drift_legend": legend(drift_series),
            "psi_alarm": settings.REVIEWAPP_DRIFT_PSI_ALARM,
            "drift_hours": settings.REVIEWAPP_DRIFT_WINDOW_HOURS,
            "drift_days": settings.REVIEWAPP_DRIFT_REFERENCE_DAYS,
            "drift_min_items": settings.REVIEWAPP_DRIFT_MIN_ITEMS,
        },
    )


def _act(request: HttpRequest, workflow, shadow) -> None:
    """The page's buttons: go back to the policy's sample rate, start or stop a shadow model."""
    try:
        if "reset_sample_rate" in request.POST:
            qa_sample_rate_reset(workflow=workflow, acting_user=request.user)
            messages.success(request, "Reviewers check the policy's share of answers again.")
        elif "stop_shadow" in request.POST and shadow is not None:
            shadow_stop(shadow=shadow, acting_user=request.user)
            messages.success(request, f"{shadow.candidate} no longer answers in the shadow.")
        elif "start_shadow" in request.POST:
            candidate = (
                candidate_models(workflow)
                .exclude(adapter=ModelAdapterKind.JUDGE)
                .filter(pk=_int(request.POST.get("candidate")))
            )
            if not candidate:
                messages.error(request, "Choose a model to run in the shadow.")
                return
            started = shadow_start(
                workflow=workflow, candidate=candidate.get(), acting_user=request.user
            )
            messages.success(
                request, f"{started.candidate} answers every new item in the shadow from now."
            )
    except (NothingRaised, ShadowConflict) as refused:
        messages.error(request, str(refused))
    except ShadowInvalid as refused:
        messages.error(request, refusal_message(refused))


def _int(value: str | None) -> int:
    return whole_number(value) or 0


def _psis(check, kind: str | None = None) -> list[float]:
    return [
        feature["value"]
        for feature in check.features
        if feature["statistic"] == "PSI" and (kind is None or feature["kind"] == kind)
    ]


@require_GET
@login_required
def costs_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """Cost per outcome (per workflow version) and per day, as a spreadsheet."""
    workflow = get_workflow_for_user(request.user, slug)
    costs = outcome_costs(workflow, days=settings.REVIEWAPP_ACCURACY_WINDOW_DAYS)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="costs-{workflow.slug}.csv"'
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerow(
        ["workflow", "by", "version", "outcome", "day", "items", "model_cost", "review_cost",
         "total_cost", "cost_per_item"]
    )  # fmt: skip
    name = neutralise_formula(workflow.slug)

    def figures(line: CostLine) -> list:
        per_item = line.per_item()
        return [
            line.items,
            f"{line.model:.6f}",
            f"{line.human:.6f}",
            f"{line.total:.6f}",
            "" if per_item is None else f"{per_item:.6f}",
        ]

    for (version, outcome), line in sorted(costs.by_outcome.items()):
        writer.writerow([name, "outcome", version, outcome, "", *figures(line)])
    for day, line in sorted(costs.by_day.items()):
        writer.writerow([name, "day", "", "", day.isoformat(), *figures(line)])
    return response
