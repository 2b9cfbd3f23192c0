"""Canary releases judged by real reviewer decisions."""

import random

import pytest
from skops import io as skops_io

from reviewapp.core.accounts.models import Team
from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.training.canary import canary_evaluate, canary_start
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from tests.conftest import run_pipeline
from tests.support.files import artefact_path
from workflows.demo.definition import TICKET_TRIAGE
from workflows.demo.model import build_classifier, ticket_text
from workflows.demo.tickets import LABELS, generate_tickets
from workflows.ingest.services import Submission, items_ingest
from workflows.models import CanaryStatus, Item, ModelVersion, Prediction
from workflows.pipeline.engine import item_resume_after_review
from workflows.pipeline.traffic import model_for_item
from workflows.services import model_version_register, workflow_publish


def _register(name_version: str, *, shuffle_labels: bool, team=None) -> ModelVersion:
    tickets = generate_tickets(400, seed=5, mixed_share=0.2)
    labels = [t.label for t in tickets]
    if shuffle_labels:  # a model trained on noise: confident about the wrong answers
        random.Random(1).shuffle(labels)
    model = build_classifier()
    model.fit([ticket_text(t.as_input()) for t in tickets], labels)
    relative = f"models/{name_version}.skops"
    skops_io.dump(model, artefact_path(relative))
    name, version = name_version.split("@")
    return model_version_register(
        name=name,
        version=version,
        artefact=relative,
        labels=list(LABELS),
        metrics={},
        team=team or Team.objects.get(slug="support"),
    )


@pytest.fixture
def everything_reviewed(demo):
    """A definition that sends every item to review, so both arms collect decisions fast."""
    routing = {"threshold": 1.0}
    return workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=TICKET_TRIAGE.definition | {"routing": routing},
    )


def _review_with_the_truth(workflow, integrator, reviewer, count):
    """Ingest tickets whose true label we know; a reviewer accepts or corrects each one."""
    tickets = generate_tickets(count, seed=31)
    truth = {}
    results = items_ingest(
        workflow=workflow,
        submissions=[Submission(input=t.as_input()) for t in tickets],
        submitted_by=integrator,
    )
    for (item, _), ticket in zip(results, tickets, strict=True):
        truth[item.pk] = ticket.label
    run_pipeline(list(truth))
    queue = workflow.queues.get()
    while (task := review_task_claim(queue=queue, reviewer=reviewer)) is not None:
        right = truth[task.item_id]
        predicted = Prediction.objects.get(item_id=task.item_id).output["label"]
        if predicted == right:
            review_task_decide(
                task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
            )
        else:
            review_task_decide(
                task=task,
                reviewer=reviewer,
                claim_token=task.claim_token,
                outcome="correct",
                output={"label": right},
                reason_codes=["wrong-category"],
            )
        item_resume_after_review(item_id=task.item_id)
    assert not ReviewTask.objects.filter(status=TaskStatus.OPEN).exists()


def test_a_candidate_that_reviewers_override_more_is_rolled_back(
    everything_reviewed, integrator, reviewer, requester
):
    bad = _register("ticket-triage@2-noise", shuffle_labels=True)
    canary = canary_start(
        workflow=everything_reviewed,
        candidate=bad,
        percent=50,
        min_sample=10,
        acting_user=requester,
    )
    _review_with_the_truth(everything_reviewed, integrator, reviewer, count=60)

    served = set(Prediction.objects.values_list("model_version__version", flat=True))
    assert served == {"1", "2-noise"}  # both arms really served items

    judged = canary_evaluate(canary_id=canary.pk)
    assert judged.status == CanaryStatus.ROLLED_BACK
    assert "override_rate" in judged.reason
    evaluation = judged.last_evaluation
    assert evaluation["candidate"]["override_rate"] > evaluation["stable"]["override_rate"] + 0.05
    assert evaluation["gates"]["override_rate"] is False
    assert AuditEvent.objects.filter(action="canary.rolled_back", object_id=str(canary.pk)).exists()
    # Rolled back: every new item goes to the stable model again.
    binding = everything_reviewed.current_version.definition["model"]
    keys = [str(n) for n in range(50)]
    assert {
        model_for_item(workflow_id=everything_reviewed.pk, binding=binding, item_key=k).pk
        for k in keys
    } == {ModelVersion.objects.get(name="ticket-triage", version="1").pk}


def test_an_equally_good_candidate_is_promoted_and_then_serves_everything(
    everything_reviewed, integrator, reviewer, requester
):
    twin = _register("ticket-triage@2", shuffle_labels=False)
    canary = canary_start(
        workflow=everything_reviewed,
        candidate=twin,
        percent=50,
        min_sample=10,
        acting_user=requester,
        gates={"override_rate_margin": 0.15, "p95_latency_ratio": 5.0},
    )
    _review_with_the_truth(everything_reviewed, integrator, reviewer, count=60)
    judged = canary_evaluate(canary_id=canary.pk)
    assert judged.status == CanaryStatus.PROMOTED, judged.last_evaluation
    binding = everything_reviewed.current_version.definition["model"]
    chosen = {
        model_for_item(workflow_id=everything_reviewed.pk, binding=binding, item_key=str(n)).pk
        for n in range(50)
    }
    assert chosen == {twin.pk}


def test_it_waits_for_enough_reviewed_items_before_judging(
    everything_reviewed, integrator, reviewer, requester
):
    bad = _register("ticket-triage@2-noise", shuffle_labels=True)
    canary = canary_start(
        workflow=everything_reviewed,
        candidate=bad,
        percent=50,
        min_sample=1000,
        acting_user=requester,
    )
    _review_with_the_truth(everything_reviewed, integrator, reviewer, count=10)
    judged = canary_evaluate(canary_id=canary.pk)
    assert judged.status == CanaryStatus.RUNNING
    assert (
        judged.last_evaluation["candidate"]["items"] + judged.last_evaluation["stable"]["items"]
        == Item.objects.count()
    )


def test_starting_a_canary_checks_its_request(demo, requester, api, reviewer, client):
    twin = _register("ticket-triage@2", shuffle_labels=False)
    url = f"/api/v1/workflows/{demo.workflow.slug}/canaries"
    refused = api(requester).post(
        url, {"candidate": "ticket-triage@1", "percent": 150}, format="json"
    )
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"percent", "candidate"}
    assert (
        api(requester).post(url, {"candidate": "nope@9", "percent": 10}, format="json").status_code
        == 400
    )
    assert (
        api(reviewer).post(url, {"candidate": str(twin), "percent": 10}, format="json").status_code
        == 404
    )
    started = api(requester).post(
        url, {"candidate": str(twin), "percent": 10, "min_sample": 5}, format="json"
    )
    assert started.status_code == 201 and started.json()["status"] == "running"
    again = api(requester).post(url, {"candidate": str(twin), "percent": 10}, format="json")
    assert again.status_code == 409
    client.force_login(requester)
    page = client.get(f"/workflows/{demo.workflow.slug}/canary")
    assert b"10 % of items go to ticket-triage@2" in page.content
    stop = api(requester).post(f"{url}/{started.json()['id']}/stop")
    assert stop.status_code == 200 and stop.json()["status"] == "stopped"
