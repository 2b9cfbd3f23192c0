"""The requests every reviewer sends all day, through the whole web stack (middleware, session
or token auth, permissions, rendering): their query counts per request are pinned, so a change
that adds a round trip anywhere on the way (not only in the services) shows here."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.support.tokens import token_for

pytestmark = pytest.mark.usefixtures("prepared_statements")

CLAIM_INPUT = re.compile(r'name="claim_token" value="([0-9a-f-]{36})"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def in_review(routed_items):
    items = routed_items(count=12, seed=5)
    assert len(items) >= 3, "the demo data must send at least three tickets to review"
    return items


@pytest.fixture
def token_client(reviewer):
    """A client as integrations and scripts use the API: a token header, no session."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(reviewer)}")
    # A token's last use is written at most once a minute: the first request pays for it.
    assert client.get("/api/v1/queues/").status_code == 200
    return client


@pytest.fixture
def browser(reviewer, demo, in_review):
    """Alice signed in through the login form (a real session), holding a claimed task."""
    client = Client(enforce_csrf_checks=True)
    login = client.get("/accounts/login/")
    csrf = CSRF_INPUT.search(login.content.decode()).group(1)
    response = client.post(
        "/accounts/login/",
        {"username": reviewer.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
    )
    assert response.status_code == 302
    listing = client.get("/queues/").content.decode()
    response = client.post(
        f"/queues/{demo.queue.pk}/next",
        {"csrfmiddlewaretoken": CSRF_INPUT.search(listing).group(1)},
    )
    assert response.status_code == 302
    return client, response.headers["Location"]


def test_an_api_claim_costs_a_fixed_number_of_queries(
    token_client, demo, in_review, django_assert_num_queries
):
    with django_assert_num_queries(CLAIM_API):
        response = token_client.post(f"/api/v1/queues/{demo.queue.pk}/claim")

    assert response.status_code == 200, response.content


def test_an_api_decision_with_next_costs_a_fixed_number_of_queries(
    token_client, demo, in_review, django_assert_num_queries
):
    task = token_client.post(f"/api/v1/queues/{demo.queue.pk}/claim").json()
    body = {"claim_token": task["claim_token"], "outcome": "accept", "next": True}

    with django_assert_num_queries(DECIDE_NEXT_API):
        response = token_client.post(f"/api/v1/tasks/{task['id']}/decision", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["next"]["id"] != task["id"]


def test_the_review_page_costs_a_fixed_number_of_queries(browser, django_assert_num_queries):
    client, page = browser

    with django_assert_num_queries(REVIEW_PAGE):
        response = client.get(page)

    assert response.status_code == 200


def test_submit_and_next_as_htmx_sends_it_costs_a_fixed_number_of_queries(
    browser, django_assert_num_queries
):
    client, page = browser
    html = client.get(page).content.decode()
    csrf = CSRF_INPUT.search(html).group(1)
    data = {
        "csrfmiddlewaretoken": csrf,
        "claim_token": CLAIM_INPUT.search(html).group(1),
        "outcome": "accept",
        "time_spent_ms": "4000",
        "comment": "",
    }

    with django_assert_num_queries(SUBMIT_AND_NEXT):
        response = client.post(
            f"{page}decide",
            data,
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="review",
            HTTP_X_CSRFTOKEN=csrf,
        )

    assert response.status_code == 200
    assert CLAIM_INPUT.search(response.content.decode()), "the next task's form"


# Measured on the code as it stands (with the savepoints of the test's transaction); a change
# that adds a query to a hot request fails here, one that removes some lowers the pin.
CLAIM_API = 15
# An accept records its Correction (a human-verified label): one INSERT.
DECIDE_NEXT_API = 18
# The full page also reads the person's roles once, for the top bar (htmx swaps do not).
REVIEW_PAGE = 7
SUBMIT_AND_NEXT = 22
