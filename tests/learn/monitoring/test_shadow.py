"""A shadow model answers beside the serving one, is scored against reviewers, and never
routes anything, even when it fails."""

import json

import pytest
from django.urls import reverse

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.monitoring.shadow import (
    ShadowConflict,
    ShadowInvalid,
    shadow_comparison,
    shadow_start,
    shadow_stop,
)
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from workflows.demo.tickets import LABELS
from workflows.models import Item, ModelVersion, Prediction, ShadowPrediction, ShadowStatus
from workflows.pipeline.policy import facts_for, route


def register_copy(demo, *, version: str, sha256: str | None = None) -> ModelVersion:
    """The demo's model under another version: the same answers (or, with a wrong checksum, a
    model that refuses to load)."""
    binding = demo.workflow.current_version.definition["model"]
    serving = ModelVersion.objects.get(name=binding["name"], version=binding["version"])
    return ModelVersion.objects.create(
        name=serving.name,
        version=version,
        adapter=serving.adapter,
        artefact=serving.artefact,
        sha256=sha256 or serving.sha256,
        labels=serving.labels,
    )


def assert_routed_by_the_serving_model(demo, items):
    definition = demo.workflow.current_version.definition
    for item in items:
        prediction = Prediction.objects.get(item=item)
        decision = route(
            policy=definition["routing"],
            facts=facts_for(
                confidence=prediction.confidence, output=prediction.output, input=item.input
            ),
            default_queue=definition["queue"],
            item_key=json.dumps(item.input, sort_keys=True),
        )
        assert item.routing == decision.as_reason(), item.pk


def test_the_shadow_answers_every_item_and_is_scored_against_reviewers(
    demo, routed_items, reviewer, approver
):
    candidate = register_copy(demo, version="shadow-1")
    shadow = shadow_start(workflow=demo.workflow, candidate=candidate, acting_user=approver)
    routed_items(count=40, seed=9)
    items = list(Item.objects.all())
    answers = {a.item_id: a for a in ShadowPrediction.objects.filter(shadow=shadow)}
    assert set(answers) == {item.pk for item in items}
    for item in items:
        assert answers[item.pk].error == ""
        assert answers[item.pk].output == item.prediction.output, "the same model, the same answer"
    assert_routed_by_the_serving_model(demo, items)

    # Reviewers decide: every other one is corrected, so both models disagree there.
    agreed = reviewed = 0
    while (task := review_task_claim(queue=demo.queue, reviewer=reviewer)) is not None:
        label = task.item.prediction.output["label"]
        correct = reviewed % 2 == 1
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome="correct" if correct else "accept",
            output={"label": next(x for x in LABELS if x != label)} if correct else None,
            reason_codes=["wrong-category"] if correct else [],
        )
        reviewed += 1
        agreed += int(not correct)
    comparison = shadow_comparison(shadow)
    for arm in (comparison.serving, comparison.candidate):
        assert arm.answered == len(items)
        assert (arm.agreement.successes, arm.agreement.trials) == (agreed, reviewed)
    assert comparison.candidate.failed == 0

    with pytest.raises(ShadowConflict):
        shadow_start(workflow=demo.workflow, candidate=candidate, acting_user=approver)
    shadow_stop(shadow=shadow, acting_user=approver)
    assert AuditEvent.objects.filter(action__in=["shadow.started", "shadow.stopped"]).count() == 2


def test_a_failing_shadow_never_fails_or_routes_an_item(demo, routed_items, approver):
    broken = register_copy(demo, version="broken", sha256="0" * 64)
    shadow = shadow_start(workflow=demo.workflow, candidate=broken, acting_user=approver)
    routed = routed_items(count=30, seed=4)
    items = list(Item.objects.all())
    assert all(item.status in ("completed", "awaiting_review") for item in items)
    assert len(routed) == Item.objects.filter(status="awaiting_review").count()
    errors = ShadowPrediction.objects.filter(shadow=shadow).exclude(error="")
    assert errors.count() == len(items)
    assert all(error for error in errors.values_list("error", flat=True))
    assert_routed_by_the_serving_model(demo, items)
    assert shadow_comparison(shadow).candidate.failed == len(items)


def test_the_serving_model_cannot_shadow_itself(demo, approver):
    binding = demo.workflow.current_version.definition["model"]
    serving = ModelVersion.objects.get(name=binding["name"], version=binding["version"])
    with pytest.raises(ShadowInvalid):
        shadow_start(workflow=demo.workflow, candidate=serving, acting_user=approver)


def test_the_page_starts_and_stops_a_shadow_for_release_rights_only(
    demo, client, approver, manager
):
    candidate = register_copy(demo, version="shadow-2")
    url = reverse("monitoring-page", args=[demo.workflow.slug])
    client.force_login(manager)
    assert client.post(url, {"start_shadow": "1", "candidate": candidate.pk}).status_code == 404
    client.force_login(approver)
    page = client.get(url).content.decode()
    assert "Run in the shadow" in page and "shadow-2" in page
    client.post(url, {"start_shadow": "1", "candidate": candidate.pk})
    shadow = demo.workflow.shadows.get()
    assert shadow.status == ShadowStatus.RUNNING
    page = client.get(url).content.decode()
    assert 'data-testid="shadow-comparison"' in page
    assert f"?candidate={candidate.pk}" in page
    client.post(url, {"stop_shadow": "1"})
    shadow.refresh_from_db()
    assert shadow.status == ShadowStatus.STOPPED
    canary = client.get(
        reverse("canary-page", args=[demo.workflow.slug]) + f"?candidate={candidate.pk}"
    )
    assert f'value="{candidate.pk}" selected' in canary.content.decode()
