"""An LLM judge on a real worker: a scripted OpenAI-compatible judge server on loopback scores
every item, reviewers decide, and routing relies on the judge only while its agreement with them
(counted here, and checked against scikit-learn's kappa) is high enough. When the judge starts
to disagree, the next items go to people and the managers are told once.
"""

import hashlib
import json

import pytest
from rest_framework.test import APIClient
from sklearn.metrics import cohen_kappa_score

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.sla.models import Notification, NotificationKind
from tests.workflows.pipeline.fake_endpoints import FakeEndpoint, chat_answer
from workflows.demo.tickets import generate_tickets
from workflows.judges.models import JudgeAgreement, JudgeScore
from workflows.models import (
    Item,
    ItemOutcome,
    ItemStatus,
    ModelAdapterKind,
    ModelVersion,
    PromptTemplate,
)
from workflows.pipeline.policy import JUDGE_UNTRUSTED
from workflows.services import workflow_publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MIN_KAPPA = 0.4
MIN_ITEMS = 30


class ScriptedJudge:
    """Reads the ticket and the model's answer from the prompt and knows each ticket's true
    label. It is wrong on about one ticket in twenty (fixed per ticket), or on every ticket once
    it ``drifted``."""

    def __init__(self, truth: dict[str, str]):
        self.truth = truth
        self.drifted = False

    def __call__(self, request: dict):
        prompt = request["messages"][-1]["content"]
        lines = dict(line.split(": ", 1) for line in prompt.splitlines() if ": " in line)
        right = json.loads(lines["OUTPUT"])["label"] == self.truth[lines["BODY"]]
        noisy = hashlib.sha256(lines["BODY"].encode()).digest()[0] < 256 // 20
        says_right = right != (noisy or self.drifted)
        answer = {"label_right": {"score": 5 if says_right else 2, "rationale": "as I see it"}}
        return 200, chat_answer(json.dumps(answer))


@pytest.fixture
def judge_server():
    server = FakeEndpoint()
    yield server
    server.close()


def judged_workflow(demo, judge_server):
    PromptTemplate.objects.create(
        name="triage-judge",
        version=1,
        user="BODY: {body}\nOUTPUT: {model_output}\nRUBRIC:\n{rubric}",
    )
    ModelVersion.objects.create(
        name="triage-judge",
        version="1",
        adapter=ModelAdapterKind.JUDGE,
        team=demo.team,
        config={
            "base_url": f"{judge_server.url}/v1",
            "model": "judge-model",
            "timeout_s": 5,
            "prompt": {"name": "triage-judge", "version": 1},
        },
    )
    judge_rule = {"field": "judge.label_right.passed", "equals": True}
    definition = demo.workflow.current_version.definition | {
        "judge": {
            "name": "triage-judge",
            "version": "1",
            "rubric": [
                {
                    "name": "label_right",
                    "question": "Is the label the right queue for the ticket?",
                    "scale": [1, 5],
                    "pass_at": 4,
                    "field": "label",
                }
            ],
            "trust": {"min_kappa": MIN_KAPPA, "min_items": MIN_ITEMS},
        },
        "routing": {
            "threshold": 0.8,
            "rules": [
                {"name": "judge-approves", "when": judge_rule, "then": {"auto_accept": {}}},
                {"name": "judge-objects", "when": {"not": judge_rule}, "then": {"review": {}}},
            ],
        },
    }
    return workflow_publish(
        slug=demo.workflow.slug, name=demo.workflow.name, team=demo.team, definition=definition
    )


def test_routing_relies_on_the_judge_only_while_it_agrees_with_reviewers(
    demo, worker, judge_server, wait_until, reviewer, manager
):
    # Most tickets mix two topics, so the model is often wrong and the judge has both verdicts
    # to give.
    tickets = generate_tickets(200, seed=41, mixed_share=0.8)
    truth = {ticket.body: ticket.label for ticket in tickets}
    judge = ScriptedJudge(truth)
    judge_server.respond = judge
    workflow = judged_workflow(demo, judge_server)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {demo.api_token}")
    checks: list[tuple[bool, bool]] = []  # (judge passed, reviewer passed), counted here
    sent = 0

    def ingest(count: int) -> list[int]:
        nonlocal sent
        batch = tickets[sent : sent + count]
        response = client.post(
            f"/api/v1/workflows/{workflow.slug}/items",
            {"items": [{"input": ticket.as_input()} for ticket in batch]},
            format="json",
            headers={"Idempotency-Key": f"judged-{sent}"},
        )
        assert response.status_code == 201, response.content
        sent += count
        ids = [entry["id"] for entry in response.json()["items"]]
        wait_until(
            lambda: (
                not Item.objects.filter(
                    pk__in=ids, status__in=[ItemStatus.RECEIVED, ItemStatus.RUNNING]
                ).exists()
            ),
            timeout=90,
            what=lambda: "the worker did not route every item",
        )
        return ids

    def review_everything() -> None:
        while (task := review_task_claim(queue=demo.queue, reviewer=reviewer)) is not None:
            item = task.item
            model_label = item.prediction.output["label"]
            true_label = truth[item.input["body"]]
            judge_passed = JudgeScore.objects.get(item=item, rubric="label_right").passed
            if model_label == true_label:
                review_task_decide(
                    task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
                )
            else:
                review_task_decide(
                    task=task,
                    reviewer=reviewer,
                    claim_token=task.claim_token,
                    outcome="correct",
                    output={"label": true_label},
                    reason_codes=["wrong-category"],
                )
            checks.append((judge_passed, model_label == true_label))

    def measured() -> JudgeAgreement:
        wait_until(
            lambda: JudgeAgreement.objects.filter(
                workflow=workflow, stale=False, items=len(checks)
            ).exists(),
            timeout=60,
            what=lambda: f"agreement over {len(checks)} checks was never measured",
        )
        row = JudgeAgreement.objects.get(workflow=workflow)
        expected = cohen_kappa_score([j for j, _ in checks], [h for _, h in checks])
        assert row.kappa == pytest.approx(expected, abs=1e-9)
        assert row.agreed == sum(j == h for j, h in checks)
        return row

    told = Notification.objects.filter(
        recipient=manager, kind=NotificationKind.JUDGE_TRUST_CHANGED
    ).order_by("pk")

    # Not yet measured: every rule that reads the judge sends the item to people.
    first = ingest(60)
    routed = Item.objects.filter(pk__in=first)
    assert {item.routing["rule"] for item in routed} == {JUDGE_UNTRUSTED}
    assert all(item.status == ItemStatus.AWAITING_REVIEW for item in routed)
    assert JudgeScore.objects.filter(item__in=first).count() == 60
    shown = client.get(f"/api/v1/items/{first[0]}").json()
    (scored,) = shown["judge"]
    assert scored["rubric"] == "label_right" and scored["judge_version"] == "triage-judge@1"
    assert scored["rationale"] == "as I see it" and scored["score"] in (2, 5)
    review_everything()
    row = measured()
    assert len(checks) == 60 and {h for _, h in checks} == {True, False}
    assert row.trusted and row.kappa_low > MIN_KAPPA, (row.kappa, row.kappa_low)
    assert "now relies on" in told.get().message

    # Trusted: the judge's verdict decides.
    trusted_batch = ingest(30)
    for item in Item.objects.filter(pk__in=trusted_batch):
        passed = JudgeScore.objects.get(item=item).passed
        assert item.routing["rule"] == ("judge-approves" if passed else "judge-objects")
        assert (item.outcome == ItemOutcome.AUTO_ACCEPTED) is passed
    review_everything()
    assert measured().trusted

    # The judge drifts: reviewers keep overruling it until it loses their trust.
    judge.drifted = True
    for _ in range(6):
        ingest(20)
        review_everything()
        row = measured()
        if not row.trusted:
            break
    assert not row.trusted and row.kappa_low <= MIN_KAPPA
    assert told.count() == 2 and "no longer trusted" in told.last().message
    assert AuditEvent.objects.filter(action="judge.trusted").count() == 1
    assert AuditEvent.objects.filter(action="judge.untrusted").count() == 1

    # The next items go to people again, and nobody is told a second time.
    after = Item.objects.filter(pk__in=ingest(10))
    assert {item.routing["rule"] for item in after} == {JUDGE_UNTRUSTED}
    review_everything()
    measured()
    assert told.count() == 2
