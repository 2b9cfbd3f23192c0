"""The reviewer's pages: /queues/, /queues/<id>/next, /review/<task>/ and its decide form."""

import re

import pytest
from django.test import Client

from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from tests.conftest import run_pipeline
from workflows.demo.tickets import LABELS
from workflows.ingest.services import Submission, items_ingest
from workflows.models import Item, ItemStatus, StepRun, StepRunStatus

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def in_review(routed_items):
    items = routed_items(count=10, seed=5)
    assert len(items) >= 2, "the demo data must send at least two tickets to review"
    return items


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def next_url(queue):
    return f"/queues/{queue.pk}/next"


def claim_page(client, queue):
    """Press "Review next" and follow to the review page; returns the task."""
    response = client.post(next_url(queue))
    assert response.status_code == 302
    match = re.fullmatch(r"/review/(\d+)/", response["Location"])
    assert match, response["Location"]
    return ReviewTask.objects.select_related("item__prediction").get(pk=match[1])


def another_label(label):
    return next(other for other in LABELS if other != label)


# --- my queues --------------------------------------------------------------------------------


def test_it_lists_my_queue_with_its_counts(reviewer, second_reviewer, demo, in_review):
    claim_page(browser(second_reviewer), demo.queue)

    response = browser(reviewer).get("/queues/")

    assert response.status_code == 200
    html = response.content.decode()
    assert demo.queue.name in html
    assert f'data-testid="open-count">{len(in_review) - 1}<' in html
    assert f'action="{next_url(demo.queue)}"' in html


def test_it_shows_an_outsider_none_of_another_teams_queues(outsider, demo, in_review):
    response = browser(outsider).get("/queues/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Claims review" in html
    assert demo.queue.name not in html
    assert next_url(demo.queue) not in html


def test_it_sends_an_anonymous_visitor_to_the_login_page(demo):
    response = Client().get("/queues/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- review next ------------------------------------------------------------------------------


def test_review_next_claims_a_task_and_redirects_to_it(reviewer, demo, in_review):
    task = claim_page(browser(reviewer), demo.queue)

    assert task.status == TaskStatus.CLAIMED
    assert task.claimed_by == reviewer


def test_review_next_shows_a_friendly_empty_state(reviewer, demo, in_review):
    ReviewTask.objects.update(status=TaskStatus.CANCELLED)

    response = browser(reviewer).post(next_url(demo.queue))

    assert response.status_code == 200
    assert "Nothing to review" in response.content.decode()
    assert "<html" in response.content.decode()


def test_review_next_answers_an_empty_queue_with_a_fragment_for_htmx(reviewer, demo, in_review):
    ReviewTask.objects.update(status=TaskStatus.CANCELLED)

    response = browser(reviewer).post(next_url(demo.queue), headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Nothing to review" in response.content.decode()
    assert "<html" not in response.content.decode()


# --- the review page --------------------------------------------------------------------------


def test_it_shows_the_input_escaped(reviewer, integrator, demo):
    # An enterprise billing ticket always goes to a reviewer (the workflow's business rule).
    [(item, _)] = items_ingest(
        workflow=demo.workflow,
        submissions=[
            Submission(
                input={
                    "subject": SCRIPT,
                    "body": "I was charged twice, please refund the last payment.",
                    "customer_tier": "enterprise",
                }
            )
        ],
        submitted_by=integrator,
    )
    run_pipeline([item.pk])
    item.refresh_from_db()
    assert item.status == ItemStatus.AWAITING_REVIEW, item.routing
    task = claim_page(browser(reviewer), demo.queue)
    assert task.item_id == item.pk

    response = browser(reviewer).get(f"/review/{task.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html


def test_it_shows_input_model_output_and_the_decision_form_to_the_holder(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)

    html = client.get(f"/review/{task.pk}/").content.decode()

    assert task.item.input["body"] in html
    assert task.item.prediction.output["label"] in html
    assert f'name="claim_token" value="{task.claim_token}"' in html
    assert 'value="wrong-category"' in html


def test_it_shows_the_input_fields_in_the_order_the_schema_declares(reviewer, demo, in_review):
    task = claim_page(browser(reviewer), demo.queue)
    html = browser(reviewer).get(f"/review/{task.pk}/").content.decode()
    positions = [html.index(f"<dt>{name}</dt>") for name in ("subject", "body", "customer_tier")]
    assert positions == sorted(positions)


def test_it_shows_a_colleague_the_task_without_the_form(reviewer, second_reviewer, demo, in_review):
    task = claim_page(browser(reviewer), demo.queue)

    response = browser(second_reviewer).get(f"/review/{task.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "by a colleague" in html
    assert str(task.claim_token) not in html


def test_it_keeps_the_review_page_query_count_low(
    reviewer, demo, in_review, django_assert_max_num_queries
):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    client.get(f"/review/{task.pk}/")  # warm the session and caches

    # Session, user, the task joined with its queue, workflow, item, prediction and the
    # item's workflow version and workflow and the permission check (one statement), the
    # per-field confidences, the reason codes, the item's history and the roles for the top
    # bar: 7, whatever the number of labels, reasons or events.
    with django_assert_max_num_queries(7):
        response = client.get(f"/review/{task.pk}/")

    assert response.status_code == 200


def test_the_task_page_shows_the_items_history_to_the_next_reviewer(
    reviewer, second_reviewer, demo, in_review
):
    from reviewapp.review.reviews.claims import review_task_skip

    first = claim_page(browser(reviewer), demo.queue)
    review_task_skip(
        task=first, reviewer=reviewer, claim_token=first.claim_token, reason=f"Spanish {SCRIPT}"
    )
    client = browser(second_reviewer)
    page = client.get(f"/review/{first.pk}/").content.decode()

    history = page[page.index("History of this item") :]
    history = history[: history.index("</details>")]
    assert f"Sent to {demo.queue.slug}" in history
    assert f"Claimed by {reviewer.username}" in history
    assert f"Skipped by {reviewer.username}" in history
    assert "Spanish &lt;script&gt;" in history and SCRIPT not in history
    assert history.index("Sent to") < history.index("Claimed") < history.index("Skipped")


# --- deciding ---------------------------------------------------------------------------------


def test_it_saves_and_returns_the_next_tasks_panel_to_htmx(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)

    response = client.post(
        f"/review/{task.pk}/decide",
        {"claim_token": task.claim_token, "outcome": "accept"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    following = ReviewTask.objects.get(claimed_by=reviewer, status=TaskStatus.CLAIMED)
    assert following.pk != task.pk
    assert f'data-task="{following.pk}"' in html
    assert "Decision saved" in html
    assert "<html" not in html
    assert response["HX-Push-Url"] == f"/review/{following.pk}/"
    assert Decision.objects.get(task=task).outcome == "accept"


def test_it_saves_and_redirects_to_the_next_task_without_javascript(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)

    response = client.post(
        f"/review/{task.pk}/decide", {"claim_token": task.claim_token, "outcome": "accept"}
    )

    following = ReviewTask.objects.get(claimed_by=reviewer, status=TaskStatus.CLAIMED)
    assert response.status_code == 302
    assert response["Location"] == f"/review/{following.pk}/"


def test_it_saves_a_correction_from_the_form(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    label = another_label(task.item.prediction.output["label"])

    response = client.post(
        f"/review/{task.pk}/decide",
        {
            "claim_token": task.claim_token,
            "outcome": "correct",
            "output.label": label,
            "reason_codes": ["wrong-category"],
        },
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    decision = Decision.objects.get(task=task)
    assert decision.output == {"label": label}
    assert decision.correction.reason_codes == ["wrong-category"]


def test_it_answers_422_with_the_message_when_the_reason_is_missing(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    label = another_label(task.item.prediction.output["label"])

    response = client.post(
        f"/review/{task.pk}/decide",
        {"claim_token": task.claim_token, "outcome": "correct", "output.label": label},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert "Give at least one reason for a correction or a rejection." in html
    assert f'data-task="{task.pk}"' in html
    assert f'value="{label}" selected' in html, "the reviewer's choice must survive the error"
    assert not Decision.objects.exists()
    assert ReviewTask.objects.get(pk=task.pk).status == TaskStatus.CLAIMED


def test_it_answers_409_when_the_claim_was_lost(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)

    response = client.post(
        f"/review/{task.pk}/decide",
        {"claim_token": "00000000-0000-4000-8000-000000000000", "outcome": "accept"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 409
    assert "nothing was saved" in response.content.decode()
    assert not Decision.objects.exists()


def test_it_shows_the_empty_state_after_the_last_decision(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    ReviewTask.objects.exclude(pk=task.pk).update(status=TaskStatus.CANCELLED)

    response = client.post(
        f"/review/{task.pk}/decide",
        {"claim_token": task.claim_token, "outcome": "reject", "reason_codes_reject": ["spam"]},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "Nothing to review" in response.content.decode()
    assert Item.objects.get(pk=task.item_id).status == ItemStatus.AWAITING_REVIEW  # resumes later


# --- the generated correction form -------------------------------------------------------------


def test_it_prefills_the_generated_form_with_the_model_output(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)

    html = client.get(f"/review/{task.pk}/").content.decode()

    model_label = task.item.prediction.output["label"]
    assert '<select name="output.label" id="field-label"' in html
    assert f'<option value="{model_label}" selected>' in html
    assert html.count(" selected>") == 1


def set_label_confidence(task, confidence):
    """What a model with per-field confidence leaves in the infer step's record."""
    run = StepRun.objects.get(item=task.item, step="infer", status=StepRunStatus.SUCCEEDED)
    run.output = run.output | {"field_confidence": {"label": confidence}}
    run.save(update_fields=["output"])


def test_it_flags_a_field_the_model_was_unsure_of_in_words(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    set_label_confidence(task, 0.42)

    html = client.get(f"/review/{task.pk}/").content.decode()

    assert 'class="output-field kind-choice low"' in html
    assert (
        '<span class="field-confidence low" id="confidence-field-label">'
        '<span aria-hidden="true">⚠</span> Low confidence: 42%</span>'
    ) in html
    assert 'aria-describedby="confidence-field-label"' in html


def test_it_does_not_flag_a_confident_field(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    set_label_confidence(task, 0.95)

    html = client.get(f"/review/{task.pk}/").content.decode()

    assert '<span class="field-confidence" id="confidence-field-label">95% confident</span>' in html
    assert "Low confidence" not in html


def test_the_builtin_model_records_the_label_confidence_per_field(reviewer, demo, in_review):
    for item in in_review:
        run = StepRun.objects.get(item=item, step="infer", status=StepRunStatus.SUCCEEDED)
        assert run.output["field_confidence"] == {"label": item.prediction.confidence}


def test_it_shows_child_reasons_with_their_parent(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)

    html = client.get(f"/review/{task.pk}/").content.decode()

    assert 'value="wrong-category/near-miss"' in html
    assert '<span class="reason-parent" id="reason-parent-correct-' in html
    assert "Model picked the wrong category \u203a</span>" in html


def test_the_changes_panel_is_the_diff_the_correction_would_record(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    model_label = task.item.prediction.output["label"]
    label = another_label(model_label)

    changed = client.post(f"/review/{task.pk}/changes", {"output.label": label}).content.decode()
    same = client.post(f"/review/{task.pk}/changes", {"output.label": model_label}).content.decode()
    broken = client.post(f"/review/{task.pk}/changes", {"output.label": "weather"}).content.decode()

    assert '<tr data-testid="change-label">' in changed
    assert f"<del>{model_label}</del>" in changed and f"<ins>{label}</ins>" in changed
    assert "<html" not in changed
    assert 'data-testid="no-changes"' in same
    assert "Not counted until fixed: label." in broken
    assert not Decision.objects.exists()


def test_the_changes_panel_is_hidden_from_an_outsider(reviewer, outsider, demo, in_review):
    task = claim_page(browser(reviewer), demo.queue)

    response = browser(outsider).post(f"/review/{task.pk}/changes", {"output.label": "billing"})

    assert response.status_code == 404


def test_it_refuses_a_value_outside_the_schema_next_to_its_field(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)

    response = client.post(
        f"/review/{task.pk}/decide",
        {
            "claim_token": task.claim_token,
            "outcome": "correct",
            "output.label": "weather",
            "reason_codes": ["wrong-category/near-miss"],
            "comment": "kept",
        },
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert (
        '<p class="error" id="error-field-label" data-testid="field-error-label">'
        "Choose one of the listed values.</p>"
    ) in html
    assert 'aria-invalid="true" aria-describedby="confidence-field-label error-field-label"' in html
    # Nothing the reviewer chose is lost.
    assert 'value="wrong-category/near-miss" checked' in html
    assert ">kept</textarea>" in html
    assert not Decision.objects.exists()
    assert ReviewTask.objects.get(pk=task.pk).status == TaskStatus.CLAIMED


def test_a_correction_with_a_child_reason_is_saved_without_javascript(reviewer, demo, in_review):
    client = browser(reviewer)
    task = claim_page(client, demo.queue)
    label = another_label(task.item.prediction.output["label"])

    response = client.post(
        f"/review/{task.pk}/decide",
        {
            "claim_token": task.claim_token,
            "outcome": "correct",
            "output.label": label,
            "reason_codes": ["wrong-category/near-miss"],
        },
    )

    assert response.status_code == 302
    decision = Decision.objects.get(task=task)
    assert decision.output == {"label": label}
    assert decision.correction.reason_codes == ["wrong-category/near-miss"]


# --- other teams ------------------------------------------------------------------------------


def test_it_hides_the_review_page_and_the_queue_from_an_outsider(
    reviewer, outsider, demo, in_review
):
    task = claim_page(browser(reviewer), demo.queue)
    client = browser(outsider)

    assert client.get(f"/review/{task.pk}/").status_code == 404
    assert client.post(next_url(demo.queue)).status_code == 404
    assert (
        client.post(
            f"/review/{task.pk}/decide", {"claim_token": task.claim_token, "outcome": "accept"}
        ).status_code
        == 404
    )
    assert ReviewTask.objects.filter(claimed_by=outsider).count() == 0
    assert not Decision.objects.exists()
