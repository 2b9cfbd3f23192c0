"""A judge version's agreement with reviewers: kappa and its interval against an independent
implementation, the trust gate, and managers told once per change of trust."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from sklearn.metrics import cohen_kappa_score

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.judges.agreement import judge_agreement_measure, judge_kappa
from reviewapp.review.judges.checks import human_passed
from reviewapp.review.sla.models import Notification, NotificationKind
from workflows.judges.declaration import TrustRule
from workflows.judges.models import JudgeAgreement, JudgeCheck
from workflows.models import Item, ModelAdapterKind, ModelVersion
from workflows.services import workflow_publish

RUBRIC = {"name": "label_right", "question": "Right label?", "scale": [1, 5], "pass_at": 4}


@pytest.fixture
def judged(demo):
    judge = ModelVersion.objects.create(
        name="triage-judge", version="1", adapter=ModelAdapterKind.JUDGE, team=demo.team
    )
    definition = demo.workflow.current_version.definition | {
        "judge": {
            "name": "triage-judge",
            "version": "1",
            "rubric": [RUBRIC | {"field": "label"}],
            "trust": {"min_kappa": 0.4, "min_items": 40},
        }
    }
    workflow = workflow_publish(
        slug=demo.workflow.slug, name=demo.workflow.name, team=demo.team, definition=definition
    )
    return workflow, judge


def add_checks(workflow, judge, pairs):
    """Checks as decisions leave them (items of the workflow), newest last; marks the row."""
    now = timezone.now()
    for index, (judge_says, human_says) in enumerate(pairs):
        item = Item.objects.create(
            workflow=workflow,
            workflow_version=workflow.current_version,
            input={"subject": "s", "body": "b"},
            request_hash="x",
        )
        JudgeCheck.objects.create(
            item=item,
            workflow=workflow,
            judge=judge,
            rubric="label_right",
            judge_passed=judge_says,
            human_passed=human_says,
            decided_at=now + timedelta(seconds=len(pairs) + index),
        )
    row, _ = JudgeAgreement.objects.get_or_create(
        workflow=workflow, judge=judge, rubric="label_right"
    )
    JudgeAgreement.objects.filter(pk=row.pk).update(stale=True, marks=row.marks + 1)


def noisy_pairs(count, *, wrong_share, seed):
    draw = random.Random(seed)
    pairs = []
    for _ in range(count):
        truth = draw.random() < 0.6
        pairs.append((truth if draw.random() >= wrong_share else not truth, truth))
    return pairs


def test_kappa_matches_an_independent_implementation_and_its_interval_holds_it(judged):
    workflow, judge = judged
    pairs = noisy_pairs(120, wrong_share=0.15, seed=3)
    add_checks(workflow, judge, pairs)
    (row,) = judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk)
    expected = cohen_kappa_score([j for j, _ in pairs], [h for _, h in pairs])
    assert row.kappa == pytest.approx(expected, abs=1e-9)
    assert row.items == 120
    assert row.agreed == sum(j == h for j, h in pairs)
    assert row.kappa_low < row.kappa < row.kappa_high
    assert not row.stale


def test_a_judge_is_trusted_once_the_lower_bound_clears_the_bar_over_enough_items(judged, manager):
    workflow, judge = judged
    add_checks(workflow, judge, noisy_pairs(30, wrong_share=0.0, seed=1))
    (row,) = judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk)
    assert row.kappa == 1.0
    assert not row.trusted  # perfect, but over 30 items of the 40 asked for
    add_checks(workflow, judge, noisy_pairs(20, wrong_share=0.05, seed=2))
    (row,) = judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk)
    assert row.trusted and row.kappa_low > 0.4
    # Measured again without a change: nobody is told twice.
    add_checks(workflow, judge, noisy_pairs(5, wrong_share=0.0, seed=4))
    (row,) = judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk)
    assert row.trusted
    told = Notification.objects.filter(kind=NotificationKind.JUDGE_TRUST_CHANGED).order_by("pk")
    assert [(n.recipient, "now relies on" in n.message) for n in told.all()] == [(manager, True)]
    assert AuditEvent.objects.filter(action="judge.trusted").count() == 1

    # The judge drifts: it answers the opposite of reviewers.
    add_checks(workflow, judge, [(not h, h) for _, h in noisy_pairs(40, wrong_share=0, seed=5)])
    (row,) = judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk)
    assert not row.trusted and row.kappa_low <= 0.4
    assert told.count() == 2
    assert "no longer trusted" in told.last().message
    event = AuditEvent.objects.get(action="judge.untrusted")
    assert event.data["items"] == 95 and event.data["min_kappa"] == 0.4


def test_only_rows_marked_by_a_decision_are_measured(judged):
    workflow, judge = judged
    add_checks(workflow, judge, noisy_pairs(10, wrong_share=0.1, seed=6))
    assert len(judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk)) == 1
    assert judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk) == []


def test_a_canary_reads_the_kappa_of_checks_since_it_started(judged):
    workflow, judge = judged
    add_checks(workflow, judge, [(True, True), (False, False)] * 5)
    later = timezone.now() + timedelta(days=1)
    assert judge_kappa(workflow_id=workflow.pk, judge_id=judge.pk, rubric="label_right").kappa == 1
    assert (
        judge_kappa(
            workflow_id=workflow.pk, judge_id=judge.pk, rubric="label_right", since=later
        ).items
        == 0
    )


def test_trust_is_won_a_margin_above_the_bar_and_lost_at_it():
    rule = TrustRule(min_kappa=0.4, min_items=30, margin=0.05)
    assert not rule.holds(items=29, kappa_low=0.9, trusted_now=False)
    assert not rule.holds(items=30, kappa_low=None, trusted_now=True)
    assert not rule.holds(items=30, kappa_low=0.43, trusted_now=False)
    assert rule.holds(items=30, kappa_low=0.46, trusted_now=False)
    assert rule.holds(items=30, kappa_low=0.41, trusted_now=True)
    assert not rule.holds(items=30, kappa_low=0.4, trusted_now=True)


@pytest.mark.parametrize(
    ("outcome", "human", "field", "passed"),
    [
        ("accept", {"label": "billing"}, None, True),
        ("reject", {}, None, False),
        ("correct", {"label": "technical"}, None, False),
        ("correct", {"label": "technical"}, "label", False),
        ("correct", {"label": "billing", "note": "x"}, "label", True),
    ],
)
def test_a_decision_becomes_the_human_verdict_on_a_rubric_item(outcome, human, field, passed):
    entry = RUBRIC | ({"field": field} if field else {})
    assert (
        human_passed(entry, outcome=outcome, model_output={"label": "billing"}, human_output=human)
        is passed
    )
