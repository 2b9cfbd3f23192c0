"""A judge's new prompt version released as a canary: the declared judge is the stable arm, the
gates compare the two versions' kappa with reviewers, and the monitoring page shows both."""

import json

import pytest
from django.urls import reverse

from reviewapp.learn.training.canary import CanaryInvalid, canary_evaluate, canary_start
from reviewapp.review.judges.agreement import judge_agreement_measure
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.conftest import run_pipeline
from tests.workflows.pipeline.fake_endpoints import FakeEndpoint, chat_answer
from workflows.demo.tickets import generate_tickets
from workflows.ingest.services import Submission, items_ingest
from workflows.judges.models import JudgeScore
from workflows.models import CanaryStatus, ModelAdapterKind, ModelVersion, PromptTemplate
from workflows.services import workflow_publish

JUDGED = {"field": "judge.label_right.passed", "equals": True}


@pytest.fixture
def judge_server():
    server = FakeEndpoint()
    yield server
    server.close()


def register_judge(demo, server, version: int) -> ModelVersion:
    PromptTemplate.objects.create(
        name="triage-judge", version=version, user="BODY: {body}\nOUTPUT: {model_output}"
    )
    return ModelVersion.objects.create(
        name="triage-judge",
        version=str(version),
        adapter=ModelAdapterKind.JUDGE,
        team=demo.team,
        config={
            "base_url": f"{server.url}/v1",
            "model": f"judge-{version}",
            "prompt": {"name": "triage-judge", "version": version},
        },
    )


@pytest.fixture
def judged(demo, judge_server):
    tickets = generate_tickets(80, seed=17, mixed_share=0.8)
    truth = {ticket.body: ticket.label for ticket in tickets}

    def respond(request):
        lines = dict(
            line.split(": ", 1) for line in request["messages"][-1]["content"].splitlines()
        )
        right = json.loads(lines["OUTPUT"])["label"] == truth[lines["BODY"]]
        # Prompt version 2 reads the rubric upside down.
        says_right = right if request["model"] == "judge-1" else not right
        answer = {"label_right": {"score": 5 if says_right else 1, "rationale": ""}}
        return 200, chat_answer(json.dumps(answer))

    judge_server.respond = respond
    stable = register_judge(demo, judge_server, 1)
    candidate = register_judge(demo, judge_server, 2)
    definition = demo.workflow.current_version.definition | {
        "judge": {
            "name": "triage-judge",
            "version": "1",
            "rubric": [
                {"name": "label_right", "question": "Right?", "scale": [1, 5], "pass_at": 4}
            ],
            "trust": {"min_kappa": 0.3, "min_items": 10},
        },
        "routing": {
            "threshold": 0.8,
            "rules": [{"name": "judge-approves", "when": JUDGED, "then": {"auto_accept": {}}}],
        },
    }
    workflow = workflow_publish(
        slug=demo.workflow.slug, name=demo.workflow.name, team=demo.team, definition=definition
    )
    return workflow, tickets, truth, stable, candidate


def test_a_judge_prompt_version_is_a_canary_judged_by_its_agreement(
    judged, demo, integrator, reviewer, manager, client
):
    workflow, tickets, truth, stable, candidate = judged
    canary = canary_start(
        workflow=workflow, candidate=candidate, percent=50, min_sample=10, acting_user=manager
    )
    assert canary.stable == stable and canary.gates["kappa_margin"] == 0.1
    results = items_ingest(
        workflow=workflow,
        submissions=[Submission(input=ticket.as_input()) for ticket in tickets],
        submitted_by=integrator,
    )
    run_pipeline([item.pk for item, _ in results])
    scored_by = set(JudgeScore.objects.values_list("judge_id", flat=True))
    assert scored_by == {stable.pk, candidate.pk}
    # Neither version is trusted yet: every item reaches a reviewer.
    while (task := review_task_claim(queue=demo.queue, reviewer=reviewer)) is not None:
        item = task.item
        if item.prediction.output["label"] == truth[item.input["body"]]:
            review_task_decide(
                task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
            )
        else:
            review_task_decide(
                task=task,
                reviewer=reviewer,
                claim_token=task.claim_token,
                outcome="correct",
                output={"label": truth[item.input["body"]]},
                reason_codes=["wrong-category"],
            )

    judged_canary = canary_evaluate(canary_id=canary.pk)
    assert judged_canary.status == CanaryStatus.ROLLED_BACK
    assert judged_canary.reason == "gates failed: kappa"
    evaluation = judged_canary.last_evaluation
    assert evaluation["stable"]["kappas"]["label_right"] == 1.0
    assert evaluation["candidate"]["kappas"]["label_right"] < 0
    assert evaluation["candidate"]["overridden"] == evaluation["candidate"]["reviewed"]

    for judge in (stable, candidate):
        judge_agreement_measure(workflow_id=workflow.pk, judge_id=judge.pk)
    client.force_login(manager)
    html = client.get(reverse("monitoring-page", args=[workflow.slug])).content.decode()
    assert 'data-testid="judges"' in html
    assert 'data-testid="judge-triage-judge-1-label_right"' in html
    assert 'data-testid="judge-triage-judge-2-label_right"' in html
    assert html.count(">trusted</span>") == 1 and html.count(">not trusted</span>") == 1


def test_a_judge_canary_needs_a_declared_judge(demo, judge_server, manager):
    candidate = register_judge(demo, judge_server, 2)
    with pytest.raises(CanaryInvalid) as refused:
        canary_start(
            workflow=demo.workflow,
            candidate=candidate,
            percent=10,
            min_sample=5,
            acting_user=manager,
        )
    assert "declares no judge" in str(refused.value.errors["candidate"])
