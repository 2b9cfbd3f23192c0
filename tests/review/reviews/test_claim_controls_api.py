"""The claim controls through the API: /api/v1/tasks/<id>/extend and /api/v1/tasks/<id>/skip."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from reviewapp.review.reviews.models import ReviewTask, TaskSkip, TaskStatus

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = settings.REVIEWAPP_LEASE


@pytest.fixture
def in_review(routed_items):
    items = routed_items(count=10, seed=5)
    assert len(items) >= 2, "the demo data must send at least two tickets to review"
    return items


@pytest.fixture
def claimed(api, reviewer, demo, in_review):
    """Alice's claim through the API, taken at NOW: the task summary she was handed."""
    with time_machine.travel(NOW, tick=False):
        response = api(reviewer).post(f"/api/v1/queues/{demo.queue.pk}/claim")
    assert response.status_code == 200, response.content
    return response.json()


def extend(client, task, **body):
    payload = {"claim_token": task["claim_token"]} | body
    return client.post(f"/api/v1/tasks/{task['id']}/extend", payload, format="json")


def skip(client, task, **body):
    """Skips a minute into the claim."""
    payload = {"claim_token": task["claim_token"], "reason": "Needs more context"} | body
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        return client.post(f"/api/v1/tasks/{task['id']}/skip", payload, format="json")


# --- extend -----------------------------------------------------------------------------------


def test_extend_gives_the_holder_a_full_lease_from_now(api, reviewer, claimed):
    with time_machine.travel(NOW + timedelta(minutes=7), tick=False):
        response = extend(api(reviewer), claimed)

    assert response.status_code == 200, response.content
    expected = NOW + timedelta(minutes=7) + LEASE
    assert datetime.fromisoformat(response.json()["lease_expires_at"]) == expected
    assert response.json()["status"] == TaskStatus.CLAIMED
    assert ReviewTask.objects.get(pk=claimed["id"]).lease_expires_at == expected


def test_extend_answers_409_once_the_lease_ran_out(api, reviewer, claimed):
    with time_machine.travel(NOW + LEASE + timedelta(seconds=1), tick=False):
        response = extend(api(reviewer), claimed)

    assert response.status_code == 409
    assert "expired" in response.json()["detail"]
    assert ReviewTask.objects.get(pk=claimed["id"]).lease_expires_at == NOW + LEASE


def test_extend_answers_409_to_a_colleague(api, second_reviewer, claimed):
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        response = extend(api(second_reviewer), claimed)

    assert response.status_code == 409


def test_extend_wants_the_claim_token(api, reviewer, claimed):
    response = api(reviewer).post(f"/api/v1/tasks/{claimed['id']}/extend", {}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["claim_token"]


def test_extend_hides_the_task_from_an_outsider(api, outsider, claimed):
    assert extend(api(outsider), claimed).status_code == 404


# --- skip -------------------------------------------------------------------------------------


def test_skip_reopens_the_task_and_the_next_claim_is_another_one(api, reviewer, demo, claimed):
    client = api(reviewer)

    response = skip(client, claimed)

    assert response.status_code == 200, response.content
    assert response.json() == {"task": claimed["id"], "status": TaskStatus.OPEN}
    assert TaskSkip.objects.get().reason == "Needs more context"
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        following = client.post(f"/api/v1/queues/{demo.queue.pk}/claim")
    assert following.status_code == 200
    assert following.json()["id"] != claimed["id"]


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "   "}])
def test_skip_without_a_reason_is_a_400_naming_the_reason(api, reviewer, claimed, body):
    response = skip(api(reviewer), claimed, **body)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reason"]
    assert ReviewTask.objects.get(pk=claimed["id"]).status == TaskStatus.CLAIMED
    assert not TaskSkip.objects.exists()


def test_skip_with_no_reason_field_is_a_400_naming_the_reason(api, reviewer, claimed):
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        response = api(reviewer).post(
            f"/api/v1/tasks/{claimed['id']}/skip",
            {"claim_token": claimed["claim_token"]},
            format="json",
        )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reason"]


def test_skip_answers_409_to_a_colleague(api, second_reviewer, claimed):
    response = skip(api(second_reviewer), claimed)

    assert response.status_code == 409
    assert ReviewTask.objects.get(pk=claimed["id"]).status == TaskStatus.CLAIMED


def test_skip_hides_the_task_from_an_outsider(api, outsider, claimed):
    assert skip(api(outsider), claimed).status_code == 404
