"""Sign-in lockout, API throttles and per-team quotas."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from reviewapp.core.accounts.tokens import api_token_create
from reviewapp.core.audit.models import AuditEvent
from tests.conftest import PASSWORD
from workflows.demo.tickets import generate_tickets

pytestmark = pytest.mark.django_db


def _sign_in(client, username, password, address="10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_an_account_is_locked_after_repeated_wrong_passwords(demo, settings):
    settings.REVIEWAPP_SIGNIN_MAX_FAILURES = 5
    client = Client()
    for _ in range(5):
        assert _sign_in(client, "alice", "wrong").status_code == 200
    locked = _sign_in(client, "alice", PASSWORD)
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(settings.REVIEWAPP_SIGNIN_LOCKOUT_SECONDS)
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # From another address too: the account itself is paused.
    assert _sign_in(Client(), "alice", PASSWORD, address="10.0.0.2").status_code == 429
    # Other people still sign in.
    assert _sign_in(Client(), "bob", PASSWORD, address="10.0.0.3").status_code == 302
    event = AuditEvent.objects.get(action="signin.locked_out")
    assert event.data["locked"] == "account"
    assert event.data["username"] == "alice"


def test_an_address_is_locked_after_guessing_many_accounts(demo, settings):
    settings.REVIEWAPP_SIGNIN_MAX_FAILURES_PER_ADDRESS = 4
    for name in ("alice", "bob", "maria", "nobody"):
        _sign_in(Client(), name, "wrong", address="10.9.9.9")
    assert _sign_in(Client(), "mel", PASSWORD, address="10.9.9.9").status_code == 429
    assert _sign_in(Client(), "mel", PASSWORD, address="10.9.9.8").status_code == 302
    assert AuditEvent.objects.filter(action="signin.locked_out", data__locked="address").exists()


def test_a_successful_sign_in_clears_the_accounts_failures(demo, settings):
    settings.REVIEWAPP_SIGNIN_MAX_FAILURES = 3
    for _ in range(2):
        _sign_in(Client(), "alice", "wrong")
    assert _sign_in(Client(), "alice", PASSWORD).status_code == 302
    for _ in range(2):
        _sign_in(Client(), "alice", "wrong")
    assert _sign_in(Client(), "alice", PASSWORD).status_code == 302


def test_ingest_is_throttled_per_token_with_retry_after(demo, integrator, settings):
    settings.REVIEWAPP_THROTTLE_INGEST = "3/minute"
    _, first = api_token_create(user=integrator, name="a", scopes=["ingest", "read"])
    _, second = api_token_create(user=integrator, name="b", scopes=["ingest"])
    url = f"/api/v1/workflows/{demo.workflow.slug}/items"
    body = {"input": generate_tickets(1, seed=4)[0].as_input()}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {first}")
    answers = [client.post(url, body, format="json").status_code for _ in range(4)]
    assert answers[:3] != [429] * 3 and answers[3] == 429
    refused = client.post(url, body, format="json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "detail" in refused.json()
    # Reading is another limit; another token has its own.
    assert client.get(f"/api/v1/workflows/{demo.workflow.slug}/canaries").status_code != 429
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
    assert other.post(url, body, format="json").status_code in (200, 201)


def test_other_requests_are_throttled_per_person(demo, manager, reviewer, settings, api):
    settings.REVIEWAPP_THROTTLE_USER = "2/minute"
    client = api(manager)
    assert [client.get("/api/v1/calendars/").status_code for _ in range(3)] == [200, 200, 429]
    assert api(reviewer).get("/api/v1/calendars/").status_code == 200


def test_the_admin_sign_in_is_under_the_same_lockout(demo, settings):
    settings.REVIEWAPP_SIGNIN_MAX_FAILURES = 2
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    answer = client.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert "Too many failed sign-ins" in answer.content.decode()
    assert "_auth_user_id" not in client.session
