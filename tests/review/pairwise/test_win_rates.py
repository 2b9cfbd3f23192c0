"""Win rates against a simulation with a known preference, checked by an independent
implementation (SciPy's Wilson interval); the canary gate on them; the preference dataset."""

import json
import random

import pytest
from django.urls import reverse
from django.utils import timezone
from scipy.stats import binomtest

from reviewapp.learn.datasets.models import ExportFormat, ExportStatus
from reviewapp.learn.datasets.services import (
    ExportInvalid,
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
    export_path,
)
from reviewapp.learn.training.canary import canary_evaluate, canary_start
from reviewapp.review.corrections.services import canonical_hash, reviewer_pseudonym_of
from reviewapp.review.pairwise.models import Choice, Comparison, Preferred, Side
from reviewapp.review.pairwise.selectors import candidate_win_rate, matchups
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from tests.learn.monitoring.test_shadow import register_copy
from workflows.models import CanaryStatus, Item

# Every other gate wide open: these tests judge the pairwise gate alone.
OPEN_GATES = {
    "override_rate_margin": 1.0,
    "p95_latency_ratio": 1000.0,
    "error_rate_margin": 1.0,
    "cost_ratio": 1000.0,
}


def simulate(*, queue, champion, candidate, reviewer, n, p, ties=0, seed=3) -> int:
    """``n`` decided comparisons where people prefer the candidate with probability ``p`` (and
    ``ties`` more that are ties), on sides drawn at random; returns the candidate's wins."""
    draw = random.Random(seed)
    items = list(Item.objects.filter(workflow=queue.workflow).order_by("pk")[:20])
    now = timezone.now()
    tasks = ReviewTask.objects.bulk_create(
        ReviewTask(
            item=items[i % len(items)], queue=queue, status=TaskStatus.DECIDED, decided_at=now
        )
        for i in range(n + ties)
    )
    wins = 0
    rows = []
    for i, task in enumerate(tasks):
        side = Side.A if draw.random() < 0.5 else Side.B
        other = Side.B if side == Side.A else Side.A
        if i >= n:
            choice, preferred = Choice.TIE, Preferred.TIE
        elif draw.random() < p:
            wins += 1
            choice, preferred = side, Preferred.CANDIDATE
        else:
            choice, preferred = other, Preferred.CHAMPION
        item = task.item
        rows.append(
            Comparison(
                task=task,
                item=item,
                workflow=queue.workflow,
                champion=champion,
                candidate=candidate,
                champion_output={"label": "billing"},
                candidate_output={"label": "outage"},
                candidate_side=side,
                input_hash=canonical_hash(item.input),
                choice=choice,
                preferred=preferred,
                reason=f"reason {i}",
                reviewer=reviewer,
                decided_at=now,
            )
        )
    Comparison.objects.bulk_create(rows)
    return wins


@pytest.fixture
def versions(demo, routed_items):
    routed_items(count=12, seed=2)
    return demo.model_version, register_copy(demo, version="2-copy")


@pytest.mark.parametrize("p", [0.3, 0.5, 0.72])
def test_the_win_rate_finds_a_known_preference(pairwise_queue, versions, reviewer, p):
    champion, candidate = versions
    n = 400
    wins = simulate(
        queue=pairwise_queue, champion=champion, candidate=candidate, reviewer=reviewer,
        n=n, p=p, ties=37,
    )  # fmt: skip
    rate = candidate_win_rate(
        workflow_id=pairwise_queue.workflow_id, champion_id=champion.pk, candidate_id=candidate.pk
    )
    assert (rate.successes, rate.trials) == (wins, n)  # ties move neither side
    assert rate.low <= p <= rate.high
    assert abs(rate.estimate - p) < 0.07
    independent = binomtest(wins, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert rate.low == pytest.approx(independent.low, abs=1e-9)
    assert rate.high == pytest.approx(independent.high, abs=1e-9)
    (matchup,) = matchups(workflow_id=pairwise_queue.workflow_id)
    assert matchup.ties == 37 and matchup.decided == n + 37
    assert matchup.champion_wins == n - wins


def test_the_results_page_and_api_show_win_rates(client, api, pairwise_queue, versions, manager):
    champion, candidate = versions
    simulate(queue=pairwise_queue, champion=champion, candidate=candidate, reviewer=manager,
             n=50, p=0.8)  # fmt: skip
    body = api(manager).get(reverse("api-pairwise-win-rates", args=[pairwise_queue.workflow.slug]))
    assert body.status_code == 200
    (row,) = body.json()["matchups"]
    assert row["candidate"] == str(candidate) and row["candidate_win_rate"]["decisive"] == 50
    assert row["interval"] == "wilson-95-decisive"
    client.force_login(manager)
    page = client.get(reverse("pairwise-results", args=[pairwise_queue.workflow.slug]))
    assert page.status_code == 200
    assert str(candidate) in page.content.decode()


def _canary(workflow, candidate, requester, **gates):
    return canary_start(
        workflow=workflow, candidate=candidate, percent=50, min_sample=1,
        acting_user=requester, gates=OPEN_GATES | gates,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("p", "expected"), [(0.9, CanaryStatus.PROMOTED), (0.35, CanaryStatus.ROLLED_BACK)]
)
def test_the_canary_waits_for_comparisons_then_its_win_rate_decides(
    demo, pairwise_queue, versions, reviewer, requester, p, expected
):
    champion, candidate = versions
    canary = _canary(
        demo.workflow, candidate, requester,
        pairwise_min_comparisons=60, pairwise_min_win_rate=0.5,
    )  # fmt: skip
    # Both arms reviewed since the canary started: only the pairwise gate can hold it back.
    for model, item in zip((champion, candidate), Item.objects.order_by("pk")[:2], strict=True):
        item.prediction.model_version = model
        item.prediction.created_at = timezone.now()
        item.prediction.save()
        Item.objects.filter(pk=item.pk).update(outcome="accepted")
    simulate(queue=pairwise_queue, champion=champion, candidate=candidate, reviewer=reviewer,
             n=30, p=p)  # fmt: skip
    waiting = canary_evaluate(canary_id=canary.pk)
    assert waiting.status == CanaryStatus.RUNNING, "30 of 60 comparisons decide nothing"
    assert waiting.last_evaluation["pairwise"]["decisive"] == 30

    simulate(queue=pairwise_queue, champion=champion, candidate=candidate, reviewer=reviewer,
             n=50, p=p, seed=8)  # fmt: skip
    judged = canary_evaluate(canary_id=canary.pk)
    assert judged.status == expected
    assert judged.last_evaluation["gates"]["pairwise_win_rate"] is (
        expected == CanaryStatus.PROMOTED
    )
    if expected == CanaryStatus.ROLLED_BACK:
        assert "pairwise_win_rate" in judged.reason


def test_a_canary_refuses_a_win_rate_above_one(demo, versions, requester):
    from reviewapp.learn.training.canary import CanaryInvalid

    with pytest.raises(CanaryInvalid):
        _canary(demo.workflow, versions[1], requester, pairwise_min_win_rate=1.5)


def test_decisive_comparisons_export_as_preference_pairs_with_lineage(
    demo, pairwise_queue, versions, reviewer, requester, approver
):
    champion, candidate = versions
    simulate(queue=pairwise_queue, champion=champion, candidate=candidate, reviewer=reviewer,
             n=25, p=0.6, ties=4)  # fmt: skip
    with pytest.raises(ExportInvalid) as refused:
        dataset_export_request(
            workflow=demo.workflow,
            requested_by=requester,
            export_format=ExportFormat.PREFERENCE_JSONL,
            filters={"decision": "correct"},
        )
    assert "filters.decision" in refused.value.errors
    export = dataset_export_request(
        workflow=demo.workflow,
        requested_by=requester,
        export_format=ExportFormat.PREFERENCE_JSONL,
        filters={"queues": [pairwise_queue.slug]},
        note="reward model",
    )
    dataset_export_approve(export=export, approver=approver)
    built = dataset_export_build(export_id=export.pk)
    assert built is not None and built.status == ExportStatus.READY
    lines = export_path(built).read_text().splitlines()
    assert len(lines) == 25 == built.rows_total  # ties are not rows
    by_task = {
        c.task_id: c
        for c in Comparison.objects.select_related("item").exclude(preferred=Preferred.TIE)
    }
    for line in lines:
        row = json.loads(line)
        comparison = by_task[row["task_id"]]
        won = comparison.preferred == Preferred.CANDIDATE
        assert row["prompt"] == comparison.item.input
        assert row["item_id"] == comparison.item_id
        assert row["chosen"] == (comparison.candidate_output if won else comparison.champion_output)
        assert row["rejected"] == (
            comparison.champion_output if won else comparison.candidate_output
        )
        assert row["chosen_model"] == str(candidate if won else champion)
        assert row["rejected_model"] == str(champion if won else candidate)
        assert row["chosen_role"] == comparison.preferred
        assert row["reviewer"] == reviewer_pseudonym_of(reviewer.pk)
        assert row["decided_at"] == comparison.decided_at.isoformat()
        assert row["reason"] == comparison.reason
        assert row["split"] in {"train", "validation", "test"}
    manifest = built.manifest
    assert manifest["dataset"] == f"{demo.workflow.slug}-preferences"
    assert manifest["fields"][:5] == ["task_id", "item_id", "prompt", "chosen", "rejected"]
    assert set(manifest["model_versions"]) == {str(champion), str(candidate)}
    assert sum(manifest["counts"]["by_class"].values()) == 25
