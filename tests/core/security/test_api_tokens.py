"""API tokens: hashed, scoped, expiring, revocable; sessions end; signed-in answers uncached."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.core.accounts.models import ApiToken
from reviewapp.core.accounts.tokens import api_token_authenticate, api_token_create, token_hash
from reviewapp.core.audit.models import AuditEvent
from tests.conftest import PASSWORD
from workflows.demo.tickets import generate_tickets

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _client(raw, keyword="Bearer"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {raw}")
    return client


def _ingest(client, demo):
    return client.post(
        f"/api/v1/workflows/{demo.workflow.slug}/items",
        {"input": generate_tickets(1, seed=2)[0].as_input()},
        format="json",
    )


def test_only_a_hash_of_the_token_is_stored(demo, integrator):
    token, raw = api_token_create(user=integrator, name="ci", scopes=["ingest"])
    assert raw.startswith("rvw_") and len(raw) > 40
    assert token.key_hash == token_hash(raw)
    assert not ApiToken.objects.filter(key_hash=raw).exists()
    assert raw not in str(list(ApiToken.objects.values()))
    assert AuditEvent.objects.filter(action="api_token.created").exists()


def test_token_and_bearer_both_authenticate_and_last_use_is_recorded(demo, integrator):
    token, raw = api_token_create(user=integrator, name="ci", scopes=["ingest", "read"])
    assert _ingest(_client(raw, "Token"), demo).status_code == 201
    assert _ingest(_client(raw, "Bearer"), demo).status_code == 201
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_scopes_limit_what_a_token_does(demo, integrator):
    _, read_only = api_token_create(user=integrator, name="dash", scopes=["read"])
    _, ingest_only = api_token_create(user=integrator, name="ci", scopes=["ingest"])
    refused = _ingest(_client(read_only), demo)
    assert refused.status_code == 403
    assert "ingest" in refused.json()["detail"]
    item_id = _ingest(_client(ingest_only), demo).json()["id"]
    assert _client(ingest_only).get(f"/api/v1/items/{item_id}").status_code == 403
    assert _client(read_only).get(f"/api/v1/items/{item_id}").status_code == 200


def test_expired_revoked_and_unknown_tokens_get_the_same_401(demo, integrator):
    with time_machine.travel(NOW, tick=False):
        _, expiring = api_token_create(
            user=integrator, name="short", scopes=["ingest"], expires_at=NOW + timedelta(days=1)
        )
        assert _ingest(_client(expiring), demo).status_code == 201
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        expired = _ingest(_client(expiring), demo)
    token, raw = api_token_create(user=integrator, name="gone", scopes=["ingest"])
    client = Client()
    client.force_login(integrator)
    assert client.post(f"/account/tokens/{token.pk}/revoke").status_code == 302
    revoked = _ingest(_client(raw), demo)
    unknown = _ingest(_client("rvw_nothing"), demo)
    assert expired.status_code == revoked.status_code == unknown.status_code == 401
    assert expired.json() == revoked.json() == unknown.json()
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_the_tokens_page_shows_a_new_token_once(demo, integrator, manager):
    client = Client()
    client.force_login(integrator)
    created = client.post(
        "/account/tokens/", {"name": "ci", "scopes": ["ingest"], "expires_in_days": "30"}
    )
    assert created.status_code == 200
    raw = created.context["created"]
    assert raw in created.content.decode()
    assert raw not in client.get("/account/tokens/").content.decode()
    assert _ingest(_client(raw), demo).status_code == 201
    bad = client.post("/account/tokens/", {"name": "", "scopes": ["everything"]})
    assert bad.status_code == 422
    # Someone else's token cannot be revoked (nor seen).
    other = Client()
    other.force_login(manager)
    token = ApiToken.objects.get(name="ci")
    assert other.post(f"/account/tokens/{token.pk}/revoke").status_code == 404


def test_sessions_end_when_idle_and_after_their_lifetime(demo, reviewer, settings):
    settings.REVIEWAPP_SESSION_IDLE_SECONDS = 600
    settings.REVIEWAPP_SESSION_MAX_SECONDS = 3600
    client = Client()
    with time_machine.travel(NOW, tick=False):
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert client.get("/queues/").status_code == 200
    with time_machine.travel(NOW + timedelta(minutes=9), tick=False):
        assert client.get("/queues/").status_code == 200
    with time_machine.travel(NOW + timedelta(minutes=18), tick=False):
        assert client.get("/queues/").status_code == 200
    with time_machine.travel(NOW + timedelta(minutes=29), tick=False):
        # Background polling is not activity.
        client.get("/operations/stalls", HTTP_HX_REQUEST="true")
    with time_machine.travel(NOW + timedelta(minutes=40), tick=False):
        assert client.get("/queues/").status_code == 302
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    started = timezone.now()
    for minutes in range(5, 65, 5):
        with time_machine.travel(started + timedelta(minutes=minutes), tick=False):
            answer = client.get("/queues/")
    assert answer.status_code == 302  # past the hour, however active


def test_signed_in_answers_are_never_stored(demo, reviewer, integrator):
    client = Client()
    client.force_login(reviewer)
    assert "no-store" in client.get("/queues/")["Cache-Control"]
    _, raw = api_token_create(user=integrator, name="ci", scopes=["ingest", "read"])
    assert "no-store" in _ingest(_client(raw), demo)["Cache-Control"]


def test_a_deactivated_persons_token_gets_401_and_a_live_one_brings_its_person(demo, integrator):
    token, raw = api_token_create(user=integrator, name="ci", scopes=["ingest", "read"])
    found = api_token_authenticate(raw)
    assert found == token and found.user == integrator and found.scopes == ["ingest", "read"]
    integrator.is_active = False
    integrator.save(update_fields=["is_active"])
    assert api_token_authenticate(raw) is None
    assert _ingest(_client(raw), demo).status_code == 401
