"""Cost per outcome against a ground truth counted item by item here."""

import csv
import io
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse

from reviewapp.learn.monitoring.costs import outcome_costs
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Decision, ReviewTask
from workflows.demo.tickets import LABELS
from workflows.models import Item, StepRun
from workflows.pipeline.engine import item_resume_after_review

HOURLY = 36.0  # 0.01 per second of review


@pytest.fixture
def settled(demo, routed_items, reviewer):
    demo.queue.review_hourly_cost = HOURLY
    demo.queue.save(update_fields=["review_hourly_cost"])
    routed_items(count=40, seed=3)
    decided = 0
    while (task := review_task_claim(queue=demo.queue, reviewer=reviewer)) is not None:
        label = task.item.prediction.output["label"]
        outcome = ("accept", "correct", "reject")[decided % 3]
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome=outcome,
            output={"label": next(x for x in LABELS if x != label)}
            if outcome == "correct"
            else None,
            reason_codes={"accept": [], "correct": ["wrong-category"], "reject": ["spam"]}[outcome],
            # Every other decision without a measured time: claim to decision counts.
            time_spent_ms=None if decided % 2 else 20_000,
        )
        decided += 1
    # The unmeasured ones were claimed 30 s before their decision.
    for decision in Decision.objects.filter(time_spent_ms__isnull=True).select_related("task"):
        ReviewTask.objects.filter(pk=decision.task_id).update(
            claimed_at=decision.decided_at - timedelta(seconds=30)
        )
    run_pipeline_resumes()
    assert decided >= 3
    return demo


def run_pipeline_resumes():
    """Resume the decided items in this process, as the worker would."""
    for item_id in Item.objects.filter(status="awaiting_review").values_list("pk", flat=True):
        item_resume_after_review(item_id=item_id)


def expected_lines(workflow):
    lines: dict[tuple[int, str], list[float]] = {}
    for item in Item.objects.filter(workflow=workflow, status="completed"):
        model = StepRun.objects.filter(item=item).aggregate(cost=Sum("cost"))["cost"] or 0.0
        human = 0.0
        for decision in Decision.objects.filter(task__item=item).select_related("task"):
            seconds = (
                decision.time_spent_ms / 1000
                if decision.time_spent_ms is not None
                else (decision.decided_at - decision.task.claimed_at).total_seconds()
            )
            human += seconds / 3600 * HOURLY
        outcomes = [item.outcome] + (["reviewed"] if item.outcome != "auto_accepted" else [])
        for outcome in outcomes:
            line = lines.setdefault((item.workflow_version.number, outcome), [0, 0.0, 0.0])
            line[0] += 1
            line[1] += model
            line[2] += human
    return lines


def test_costs_per_outcome_and_per_day_match_the_items(settled):
    report = outcome_costs(settled.workflow)
    expected = expected_lines(settled.workflow)
    got = {key: [line.items, line.model, line.human] for key, line in report.by_outcome.items()}
    assert set(got) == set(expected)
    for key, (items, model, human) in expected.items():
        assert got[key][0] == items, key
        assert got[key][1] == pytest.approx(model), key
        assert got[key][2] == pytest.approx(human), key
    reviewed = report.by_outcome[(settled.workflow.current_version.number, "reviewed")]
    assert reviewed.human > 0
    completed = Item.objects.filter(status="completed").count()
    assert sum(line.items for line in report.by_day.values()) == completed


def test_the_costs_download_and_the_page_show_the_same_figures(settled, client, manager, reviewer):
    client.force_login(manager)
    response = client.get(reverse("monitoring-costs-csv", args=[settled.workflow.slug]))
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('costs-ticket-triage.csv"')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    report = outcome_costs(settled.workflow)
    by_outcome = {(int(r["version"]), r["outcome"]): r for r in rows if r["by"] == "outcome"}
    for key, line in report.by_outcome.items():
        assert int(by_outcome[key]["items"]) == line.items
        assert float(by_outcome[key]["review_cost"]) == pytest.approx(line.human, abs=1e-6)
    assert [r["by"] for r in rows].count("day") == len(report.by_day)

    page = client.get(reverse("monitoring-page", args=[settled.workflow.slug])).content.decode()
    assert "Cost per outcome" in page and "Reviewed (all three)" in page

    client.force_login(reviewer)
    url = reverse("monitoring-costs-csv", args=[settled.workflow.slug])
    assert client.get(url).status_code == 404
