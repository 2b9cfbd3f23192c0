"""Asking for an approval and reading it through the API: /api/v1/approvals[/<id>[/wait]]."""

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.approvals.models import Approval
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from workflows.models import Item, ItemStatus

ASK = {
    "workflow": "agent-actions",
    "tool": "refund",
    "arguments": {"order": "A-17", "amount": 120},
    "context": {"conversation": "Customer says the parcel never arrived."},
    "risk_level": "medium",
    "requested_by": "billing-agent",
}


def ask(client, body=None, *, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/approvals", ASK if body is None else body, format="json", **headers)


def test_it_stores_the_request_and_opens_a_review_task_due_at_the_deadline(
    api, integrator, agent_actions
):
    response = ask(api(integrator), key="run-1/refund")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["tool"] == "refund"
    assert body["arguments"] == ASK["arguments"]
    assert body["on_deadline"] == "deny"
    approval = Approval.objects.get(pk=body["id"])
    assert approval.item.status == ItemStatus.AWAITING_REVIEW
    assert approval.item.prediction.output == {"arguments": ASK["arguments"]}
    (task,) = ReviewTask.objects.filter(item_id=approval.pk)
    assert task.status == TaskStatus.OPEN
    assert task.queue.slug == "agent-actions"
    assert task.due_at == approval.deadline_at
    actions = list(
        AuditEvent.objects.filter(object_id=str(approval.pk)).values_list("action", flat=True)
    )
    assert "approval.requested" in actions


def test_a_high_risk_request_needs_two_reviewers(api, integrator, agent_actions):
    response = ask(api(integrator), ASK | {"risk_level": "high"})

    assert response.status_code == 201, response.content
    assert ReviewTask.objects.filter(item_id=response.json()["id"]).count() == 2


def test_the_same_idempotency_key_finds_the_same_approval(api, integrator, agent_actions):
    client = api(integrator)
    first = ask(client, key="run-1/refund")
    again = ask(client, key="run-1/refund")

    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]
    assert Item.objects.count() == 1
    assert ReviewTask.objects.count() == 1


def test_the_same_key_with_another_request_is_a_conflict(api, integrator, agent_actions):
    client = api(integrator)
    ask(client, key="run-1/refund")
    other = ask(client, ASK | {"arguments": {"order": "A-17", "amount": 9000}}, key="run-1/refund")

    assert other.status_code == 409, other.content
    assert "Idempotency-Key" in other.json()["detail"]
    assert Item.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in ASK.items() if k != "tool"}, "tool"),
        ({k: v for k, v in ASK.items() if k != "workflow"}, "workflow"),
        (ASK | {"risk_level": "extreme"}, "risk_level"),
        (ASK | {"arguments": [1, 2]}, "arguments"),
        (ASK | {"arguments": "amount=120"}, "arguments"),
        (ASK | {"requested_by": ""}, "requested_by"),
        (ASK | {"deadline_seconds": 0}, "deadline_seconds"),
        (ASK | {"deadline_seconds": "soon"}, "deadline_seconds"),
        (ASK | {"deadline_seconds": 10**7}, "deadline_seconds"),
        (ASK | {"tool": "x" * 201}, "tool"),
        (ASK | {"workflow": "ticket-triage"}, "workflow"),
    ],
)
def test_it_refuses_a_bad_request_with_field_errors_and_stores_nothing(
    api, integrator, agent_actions, body, field
):
    response = ask(api(integrator), body)

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Approval.objects.exists()


@pytest.mark.parametrize("body", [[], "refund", None, {"arguments": {"a": 1}}])
def test_it_answers_any_body_with_a_4xx(api, integrator, agent_actions, body):
    response = api(integrator).post("/api/v1/approvals", body, format="json")

    assert 400 <= response.status_code < 500, response.content


def test_a_body_that_is_not_json_is_refused(api, integrator, agent_actions):
    response = api(integrator).post(
        "/api/v1/approvals", b"{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert "detail" in response.json()


def test_an_unknown_workflow_is_not_found(api, integrator, agent_actions):
    response = ask(api(integrator), ASK | {"workflow": "no-such-workflow"})

    assert response.status_code == 404


def test_another_team_cannot_ask_or_read(api, integrator, outsider, agent_actions):
    created = ask(api(integrator)).json()

    assert ask(api(outsider)).status_code == 404
    assert api(outsider).get(f"/api/v1/approvals/{created['id']}").status_code == 404
    assert api(outsider).get(f"/api/v1/approvals/{created['id']}/wait?timeout=0").status_code == 404


def test_a_reviewer_without_the_workflow_cannot_read_it(api, integrator, reviewer, agent_actions):
    created = ask(api(integrator)).json()

    assert api(reviewer).get(f"/api/v1/approvals/{created['id']}").status_code == 404


def test_an_anonymous_caller_is_refused(client, agent_actions):
    assert client.post("/api/v1/approvals", ASK, content_type="application/json").status_code in (
        401,
        403,
    )


def test_a_missing_approval_is_not_found(api, integrator, agent_actions):
    assert api(integrator).get("/api/v1/approvals/999999").status_code == 404
    assert api(integrator).get("/api/v1/approvals/999999/wait").status_code == 404


@pytest.mark.parametrize("timeout", ["-1", "soon", "61", "nan", "1e400"])
def test_the_wait_refuses_a_bad_timeout(api, integrator, agent_actions, timeout):
    created = ask(api(integrator)).json()

    response = api(integrator).get(f"/api/v1/approvals/{created['id']}/wait?timeout={timeout}")

    assert response.status_code == 400, response.content
    assert "timeout" in response.json()["errors"]


def test_the_wait_answers_pending_when_its_timeout_passes(api, integrator, agent_actions):
    created = ask(api(integrator)).json()

    response = api(integrator).get(f"/api/v1/approvals/{created['id']}/wait?timeout=0.2")

    assert response.status_code == 200
    assert response.json()["status"] == "pending"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["workflow", "tool", "arguments", "context", "risk_level", "requested_by", "deadline_seconds"]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.dictionaries(FIELDS, JSON, max_size=4), dropped=st.sets(FIELDS, max_size=2))
def test_no_request_body_gets_a_server_error(api, integrator, agent_actions, changes, dropped):
    body = {k: v for k, v in (ASK | changes).items() if k not in dropped}

    response = ask(api(integrator), body)

    assert response.status_code in (200, 201, 400, 404), (body, response.content)
    assert isinstance(response.json(), dict)


def test_the_review_page_speaks_of_approving_and_denying(
    client, api, integrator, agent_actions, reviewer, demo
):
    made = ask(api(integrator)).json()
    task = ReviewTask.objects.get(item_id=made["id"])
    client.force_login(reviewer)

    claimed = client.post(reverse("queue-next", args=[task.queue_id]))
    page = client.get(claimed["Location"]).content.decode()

    assert f"/review/{task.pk}/" in claimed["Location"]
    for words in ("Approve <kbd>a</kbd>", "Approve with edits <kbd>c</kbd>", "Deny <kbd>r</kbd>"):
        assert words in page
    # Not the words of an ordinary item.
    assert "Accept <kbd>a</kbd>" not in page
