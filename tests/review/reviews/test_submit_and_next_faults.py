"""Submit and next when the database goes away between the decision and the next claim.

The decision commits first; a failure of the claim that follows must not read as "nothing was
saved". The fault is injected where the database answers (Django's execute wrapper raising the
error a restarting server gives); ``make bench-recovery`` does it with a real restart.
"""

from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client

from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus


@pytest.fixture
def in_review(routed_items):
    items = routed_items(count=30, seed=5)
    assert len(items) >= 3
    return items


@contextmanager
def claims_fail():
    """Every claim (the only statement with SKIP LOCKED) meets a database that went away."""

    def wrapper(execute, sql, params, many, context):
        if "SKIP LOCKED" in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


@contextmanager
def database_gone_after_the_claim():
    """The next claim commits, then every statement meets a database that went away: the
    answer (the claimed task's item for the API, the next review page) cannot be read."""
    gone = []

    def wrapper(execute, sql, params, many, context):
        if gone:
            raise OperationalError("terminating connection due to administrator command")
        result = execute(sql, params, many, context)
        if "SKIP LOCKED" in sql:
            transaction.on_commit(lambda: gone.append(True))
        return result

    with connection.execute_wrapper(wrapper):
        yield gone


def test_the_page_says_the_decision_is_saved_when_the_next_task_cannot_load(
    reviewer, demo, in_review
):
    client = Client()
    client.force_login(reviewer)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    with claims_fail():
        response = client.post(
            f"/review/{task.pk}/decide",
            {"outcome": "accept", "claim_token": str(task.claim_token)},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Decision saved." in page
    assert "The next task could not be loaded. Your decision is safe" in page
    assert f'action="/queues/{demo.queue.pk}/next"' in page
    assert Decision.objects.filter(task=task, outcome="accept").exists()
    assert ReviewTask.objects.get(pk=task.pk).status == TaskStatus.DECIDED


def test_the_api_answers_201_with_the_decision_and_why_there_is_no_next_task(
    reviewer, demo, in_review, api
):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    body = {"outcome": "accept", "claim_token": str(task.claim_token), "next": True}
    with claims_fail():
        response = api(reviewer).post(f"/api/v1/tasks/{task.pk}/decision", body, format="json")
    assert response.status_code == 201
    data = response.json()
    assert (data["task"], data["outcome"], data["next"]) == (task.pk, "accept", None)
    assert data["next_error"].startswith("Your decision is saved")


def test_the_api_hands_out_the_next_task_with_the_decision(reviewer, demo, in_review, api):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    body = {"outcome": "accept", "claim_token": str(task.claim_token), "next": True}
    response = api(reviewer).post(f"/api/v1/tasks/{task.pk}/decision", body, format="json")
    assert response.status_code == 201
    following = response.json()["next"]
    assert following["id"] != task.pk
    assert ReviewTask.objects.get(pk=following["id"]).claimed_by == reviewer


def test_a_request_that_meets_a_database_restart_answers_503_with_retry_after(
    reviewer, demo, in_review, api
):
    client = Client()
    client.force_login(reviewer)
    with claims_fail():
        page = client.post(f"/queues/{demo.queue.pk}/next")
        endpoint = api(reviewer).post(f"/api/v1/queues/{demo.queue.pk}/claim")
    assert (page.status_code, page["Retry-After"]) == (503, "5")
    assert "Try again in a moment" in page.content.decode()
    assert (endpoint.status_code, endpoint["Retry-After"]) == (503, "5")
    assert endpoint.json() == {
        "detail": "The database is not available right now, so nothing was saved. "
        "Try again in a moment."
    }


def test_sending_the_same_decision_again_finds_it_saved_not_lost(reviewer, demo, in_review, api):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    body = {"outcome": "accept", "claim_token": str(task.claim_token)}
    first = api(reviewer).post(f"/api/v1/tasks/{task.pk}/decision", body, format="json")
    again = api(reviewer).post(f"/api/v1/tasks/{task.pk}/decision", body, format="json")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["outcome"] == "accept"
    assert Decision.objects.filter(task=task).count() == 1

    client = Client()
    client.force_login(reviewer)
    page = client.post(
        f"/review/{task.pk}/decide", body | {"outcome": "accept"}, HTTP_HX_REQUEST="true"
    )
    assert page.status_code == 200
    assert "nothing was saved" not in page.content.decode()


def test_another_outcome_under_the_same_claim_is_refused_and_the_first_stands(
    reviewer, demo, in_review, api
):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    token = str(task.claim_token)
    api(reviewer).post(
        f"/api/v1/tasks/{task.pk}/decision",
        {"outcome": "accept", "claim_token": token},
        format="json",
    )
    client = Client()
    client.force_login(reviewer)
    page = client.post(
        f"/review/{task.pk}/decide",
        {"outcome": "reject", "claim_token": token, "reason_codes_reject": ["other"]},
        HTTP_HX_REQUEST="true",
    )
    assert page.status_code == 409
    html = page.content.decode()
    assert "You already decided this task (accept); that decision stands." in html
    assert "nothing was saved" not in html
    assert list(Decision.objects.filter(task=task).values_list("outcome", flat=True)) == ["accept"]


def test_a_stolen_or_stale_token_is_still_refused(reviewer, second_reviewer, demo, in_review, api):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    body = {"outcome": "accept", "claim_token": str(task.claim_token)}
    api(reviewer).post(f"/api/v1/tasks/{task.pk}/decision", body, format="json")
    response = api(second_reviewer).post(f"/api/v1/tasks/{task.pk}/decision", body, format="json")
    assert response.status_code in (404, 409)
    assert Decision.objects.filter(task=task).count() == 1


# A commit must really happen before the fault: these run outside the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_the_page_says_the_decision_is_saved_when_the_next_page_cannot_be_read(
    reviewer, demo, in_review
):
    client = Client()
    client.force_login(reviewer)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    with database_gone_after_the_claim() as gone:
        response = client.post(
            f"/review/{task.pk}/decide",
            {"outcome": "accept", "claim_token": str(task.claim_token)},
            HTTP_HX_REQUEST="true",
        )
    assert gone, "the fault must come after the next claim committed"
    assert response.status_code == 200
    page = response.content.decode()
    assert "Decision saved." in page
    assert "Your decision is safe" in page
    assert Decision.objects.filter(task=task, outcome="accept").exists()


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_201_when_the_claimed_task_cannot_be_read_for_the_answer(
    reviewer, demo, in_review, api
):
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    body = {"outcome": "accept", "claim_token": str(task.claim_token), "next": True}
    with database_gone_after_the_claim() as gone:
        response = api(reviewer).post(f"/api/v1/tasks/{task.pk}/decision", body, format="json")
    assert gone, "the fault must come after the next claim committed"
    assert response.status_code == 201
    data = response.json()
    assert (data["task"], data["next"]) == (task.pk, None)
    assert data["next_error"].startswith("Your decision is saved")
    # The claimed task stays the reviewer's: their next claim hands it over.
    held = ReviewTask.objects.get(claimed_by=reviewer, status=TaskStatus.CLAIMED)
    assert review_task_claim(queue=demo.queue, reviewer=reviewer) == held
