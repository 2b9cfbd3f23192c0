"""POST /api/v1/workflows/<slug>/items and GET /api/v1/items/<id>, through real HTTP."""

import json

import pytest
from rest_framework.test import APIClient

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.conftest import work_callbacks
from workflows.models import Item, ItemStatus
from workflows.pipeline.engine import item_resume_after_review

TICKET = {"subject": "Refund", "body": "Please refund the last payment.", "customer_tier": "pro"}
OTHER_TICKET = {"subject": "Login", "body": "I cannot log in to my account."}


def ingest_url(slug="ticket-triage"):
    return f"/api/v1/workflows/{slug}/items"


@pytest.fixture
def integrator_client(demo):
    """The integrator as a real API client would be: by its token, not a forced login."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {demo.api_token}")
    return client


@pytest.fixture
def counts():
    """Items and audit events right now, to prove a failed request wrote nothing."""

    def snapshot():
        return Item.objects.count(), AuditEvent.objects.count()

    return snapshot


# --- creating items ---------------------------------------------------------------------------


def test_it_creates_one_item_for_a_token_authenticated_integrator(integrator_client, demo):
    response = integrator_client.post(ingest_url(), {"input": TICKET}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    item = Item.objects.get(pk=body["id"])
    assert body["status"] == ItemStatus.RECEIVED
    assert body["workflow"] == "ticket-triage"
    assert item.input == TICKET
    assert item.submitted_by.username == "api-client"
    assert response["X-Correlation-Id"] == item.correlation_id
    assert AuditEvent.objects.filter(action="item.received", object_id=str(item.pk)).count() == 1


def test_it_refuses_a_request_without_a_token(demo):
    response = APIClient().post(ingest_url(), {"input": TICKET}, format="json")

    assert response.status_code == 401
    assert not Item.objects.exists()


def test_it_creates_a_batch_of_items_in_input_order(api, integrator):
    response = api(integrator).post(
        ingest_url(), {"items": [{"input": TICKET}, {"input": OTHER_TICKET}]}, format="json"
    )

    assert response.status_code == 201, response.content
    ids = [entry["id"] for entry in response.json()["items"]]
    assert [Item.objects.get(pk=pk).input for pk in ids] == [TICKET, OTHER_TICKET]


def test_it_enqueues_the_pipeline_only_after_the_commit_one_message_per_batch(
    api, integrator, django_capture_on_commit_callbacks, broker
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api(integrator).post(
            ingest_url(), {"items": [{"input": TICKET}, {"input": OTHER_TICKET}]}, format="json"
        )
    assert response.status_code == 201
    assert len(work_callbacks(callbacks)) == 1
    assert broker() == [], "nothing may reach the broker before the transaction commits"

    work_callbacks(callbacks)[0]()

    ids = [entry["id"] for entry in response.json()["items"]]
    assert broker() == [("workflows.run_items", [ids])]


def test_a_large_batch_is_split_into_pipeline_messages_of_the_batch_size(
    api, integrator, broker, settings, django_capture_on_commit_callbacks
):
    settings.REVIEWAPP_PIPELINE_BATCH = 2
    tickets = [TICKET | {"subject": f"Refund {n}"} for n in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(integrator).post(
            ingest_url(), {"items": [{"input": ticket} for ticket in tickets]}, format="json"
        )

    ids = [entry["id"] for entry in response.json()["items"]]
    assert broker() == [
        ("workflows.run_items", [ids[0:2]]),
        ("workflows.run_items", [ids[2:4]]),
        ("workflows.run_items", [ids[4:5]]),
    ]


# --- refusing bad requests --------------------------------------------------------------------


def test_it_answers_400_to_malformed_json(api, integrator, counts):
    before = counts()

    response = api(integrator).post(
        ingest_url(), data='{"input": {"subject": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert "detail" in response.json()
    assert counts() == before


@pytest.mark.parametrize(
    ("ticket", "field", "message"),
    [
        ({"body": "no subject"}, "input.subject", "This field is required."),
        ({"subject": 42, "body": "x"}, "input.subject", "42 is not of type 'string'"),
        (
            {"subject": "s", "body": "b", "priority": "high"},
            "input.priority",
            "This field is not allowed.",
        ),
    ],
    ids=["missing", "wrong-type", "extra"],
)
def test_it_names_the_field_that_breaks_the_input_schema(
    api, integrator, counts, ticket, field, message
):
    before = counts()

    response = api(integrator).post(ingest_url(), {"input": ticket}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["detail"]
    assert body["errors"] == {field: [message]}
    assert counts() == before


def test_it_stores_none_of_a_batch_when_one_item_is_invalid(api, integrator, counts):
    before = counts()

    response = api(integrator).post(
        ingest_url(), {"items": [{"input": TICKET}, {"input": {"body": "x"}}]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"items.1.input.subject": ["This field is required."]}
    assert counts() == before


def test_it_answers_404_for_an_unknown_workflow(api, integrator):
    response = api(integrator).post(ingest_url("no-such-flow"), {"input": TICKET}, format="json")

    assert response.status_code == 404


def test_it_answers_413_to_a_body_over_the_limit(api, integrator, counts, settings):
    settings.REVIEWAPP_MAX_BODY_BYTES = 1024
    before = counts()
    small = api(integrator).post(ingest_url(), {"input": TICKET}, format="json")
    assert small.status_code == 201

    big = api(integrator).post(
        ingest_url(), {"input": TICKET | {"body": "x" * 2000}}, format="json"
    )

    assert big.status_code == 413
    assert big.json() == {"detail": "The request body is larger than this server accepts."}
    assert counts() == (before[0] + 1, before[1] + 1)


def test_it_refuses_a_batch_over_the_limit(api, integrator, counts, settings):
    settings.REVIEWAPP_MAX_BATCH = 2
    before = counts()

    response = api(integrator).post(ingest_url(), {"items": [{"input": TICKET}] * 3}, format="json")

    assert response.status_code == 400
    assert "items" in response.json()["errors"]
    assert counts() == before


def test_it_hides_the_workflow_from_a_reviewer_who_may_not_submit(api, reviewer, counts):
    before = counts()

    response = api(reviewer).post(ingest_url(), {"input": TICKET}, format="json")

    assert response.status_code == 404
    assert counts() == before


# --- idempotency ------------------------------------------------------------------------------


def test_it_replays_the_same_key_and_body_without_a_new_item(api, integrator, counts):
    client = api(integrator)
    first = client.post(
        ingest_url(), {"input": TICKET}, format="json", headers={"Idempotency-Key": "order-1"}
    )
    assert first.status_code == 201
    after_first = counts()

    replay = client.post(
        ingest_url(), {"input": TICKET}, format="json", headers={"Idempotency-Key": "order-1"}
    )

    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert counts() == after_first


def test_it_refuses_the_same_key_with_another_body(api, integrator, counts):
    client = api(integrator)
    client.post(
        ingest_url(), {"input": TICKET}, format="json", headers={"Idempotency-Key": "order-1"}
    )
    before = counts()

    response = client.post(
        ingest_url(), {"input": OTHER_TICKET}, format="json", headers={"Idempotency-Key": "order-1"}
    )

    assert response.status_code == 409
    assert "order-1" in response.json()["detail"]
    assert counts() == before


def test_it_rolls_back_a_batch_whose_replayed_key_conflicts(api, integrator, counts):
    client = api(integrator)
    client.post(
        ingest_url(), {"input": TICKET}, format="json", headers={"Idempotency-Key": "order-1"}
    )
    before = counts()

    response = client.post(
        ingest_url(),
        {
            "items": [
                {"input": TICKET, "idempotency_key": "fresh"},
                {"input": OTHER_TICKET, "idempotency_key": "order-1"},
            ]
        },
        format="json",
    )

    assert response.status_code == 409
    assert counts() == before
    assert not Item.objects.filter(idempotency_key="fresh").exists()


def test_it_replays_a_batch_by_its_key(api, integrator, counts):
    client = api(integrator)
    batch = {"items": [{"input": TICKET}, {"input": OTHER_TICKET}]}
    first = client.post(ingest_url(), batch, format="json", headers={"Idempotency-Key": "b-1"})
    after_first = counts()

    replay = client.post(ingest_url(), batch, format="json", headers={"Idempotency-Key": "b-1"})

    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert counts() == after_first
    assert set(Item.objects.values_list("idempotency_key", flat=True)) == {"b-1/0", "b-1/1"}


def test_it_refuses_duplicate_keys_within_one_batch(api, integrator, counts):
    before = counts()

    response = api(integrator).post(
        ingest_url(),
        {
            "items": [
                {"input": TICKET, "idempotency_key": "same"},
                {"input": OTHER_TICKET, "idempotency_key": "same"},
            ]
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["items.1.idempotency_key"]
    assert counts() == before


def test_it_enqueues_nothing_for_a_replay(
    api, integrator, django_capture_on_commit_callbacks, broker
):
    client = api(integrator)
    client.post(
        ingest_url(), {"input": TICKET}, format="json", headers={"Idempotency-Key": "order-1"}
    )

    with django_capture_on_commit_callbacks(execute=True):
        replay = client.post(
            ingest_url(), {"input": TICKET}, format="json", headers={"Idempotency-Key": "order-1"}
        )

    assert replay.status_code == 200
    assert broker() == []


# --- reading an item --------------------------------------------------------------------------


def test_it_shows_an_item_with_prediction_routing_decision_and_timeline(
    api, routed_items, reviewer, demo
):
    routed_items(count=40)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    item = task.item
    review_task_decide(task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept")
    assert item_resume_after_review(item_id=item.pk)

    response = api(reviewer).get(f"/api/v1/items/{item.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == ItemStatus.COMPLETED
    assert body["outcome"] == "accepted"
    assert body["prediction"]["output"] == body["final_output"]
    assert body["prediction"]["model_version"] == "ticket-triage@1"
    assert body["routing"]["action"] == "review"
    assert body["decision"]["outcome"] == "accept"
    assert [run["step"] for run in body["timeline"]] == [
        "validate",
        "infer",
        "postprocess",
        "judge",
        "route",
    ]
    assert json.dumps(body)  # serialisable as the API promised


def test_it_shows_an_item_to_its_integrator(api, integrator):
    created = api(integrator).post(ingest_url(), {"input": TICKET}, format="json").json()

    response = api(integrator).get(f"/api/v1/items/{created['id']}")

    assert response.status_code == 200
    assert response.json()["status"] == ItemStatus.RECEIVED
    assert response.json()["timeline"] == []


def test_it_hides_an_item_from_another_team(api, integrator, outsider):
    created = api(integrator).post(ingest_url(), {"input": TICKET}, format="json").json()

    assert api(outsider).get(f"/api/v1/items/{created['id']}").status_code == 404
    assert api(outsider).get("/api/v1/items/999999").status_code == 404
