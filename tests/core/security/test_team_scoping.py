"""What used to be global now belongs to a team: models, calendars, webhook secrets, dead
letters and reviewer profiles."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.inputs import QueueSettingsInvalid
from reviewapp.review.reviews.queues import queue_claim_settings_set
from tests.conftest import PASSWORD
from workflows.act.secrets import webhook_secrets_parse
from workflows.definitions import DefinitionInvalid
from workflows.demo.definition import TICKET_TRIAGE
from workflows.demo.tickets import generate_tickets
from workflows.models import Item, ModelVersion
from workflows.pipeline.breaker import breaker_record_failure
from workflows.services import workflow_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def claims_model(other_team, demo):
    """A model trained for the Claims team (same artefact as the demo's)."""
    return ModelVersion.objects.create(
        team=other_team["team"],
        name="claims-model",
        version="1",
        artefact=demo.model_version.artefact,
        sha256=demo.model_version.sha256,
        labels=demo.model_version.labels,
    )


def test_a_canary_cannot_use_another_teams_model(api, demo, requester, claims_model):
    answer = api(requester).post(
        f"/api/v1/workflows/{demo.workflow.slug}/canaries",
        {"candidate": "claims-model@1", "percent": 10},
        format="json",
    )
    unknown = api(requester).post(
        f"/api/v1/workflows/{demo.workflow.slug}/canaries",
        {"candidate": "nothing@1", "percent": 10},
        format="json",
    )
    assert answer.status_code == unknown.status_code == 400
    assert list(answer.json()["errors"]) == ["candidate"]


def test_the_canary_page_lists_only_the_teams_models(demo, requester, claims_model):
    client = Client()
    client.force_login(requester)
    page = client.get(f"/workflows/{demo.workflow.slug}/canary")
    assert page.status_code == 200
    assert b"claims-model" not in page.content
    started = client.post(
        f"/workflows/{demo.workflow.slug}/canary",
        {"candidate": str(claims_model.pk), "percent": "10", "min_sample": "5"},
    )
    assert started.status_code == 404


def test_an_admin_shares_a_model_and_it_is_audited(api, demo, requester, claims_model):
    admin = get_user_model().objects.get(username="admin")
    refused = api(requester).post(
        f"/api/v1/models/{claims_model.pk}/shares", {"team": "support"}, format="json"
    )
    assert refused.status_code == 404
    shared = api(admin).post(
        f"/api/v1/models/{claims_model.pk}/shares", {"team": "support"}, format="json"
    )
    assert shared.status_code == 200
    assert shared.json()["shared_with"] == ["support"]
    assert AuditEvent.objects.filter(action="model_version.shared").count() == 1
    answer = api(requester).post(
        f"/api/v1/workflows/{demo.workflow.slug}/canaries",
        {"candidate": "claims-model@1", "percent": 10},
        format="json",
    )
    assert answer.status_code == 201


def test_a_model_bound_by_configuration_belongs_to_the_first_team(demo, other_team):
    assert demo.model_version.__class__.objects.get(pk=demo.model_version.pk).team == demo.team


def test_webhook_secrets_come_only_from_the_teams_allow_list(demo, other_team, manager):
    for name in ("SECRET_KEY", "DATABASE_URL", "CLAIMS_WEBHOOK_SECRET"):
        with pytest.raises(DefinitionInvalid):
            workflow_publish(
                slug=demo.workflow.slug,
                name=demo.workflow.name,
                team=demo.team,
                definition=TICKET_TRIAGE.definition
                | {"webhook": {"url": "https://example.com/h", "secret_env": name}},
            )
        with pytest.raises(QueueSettingsInvalid) as refused:
            queue_claim_settings_set(
                queue=demo.queue,
                acting_user=manager,
                changes={
                    "notify_webhook_url": "https://example.com/h",
                    "notify_webhook_secret_env": name,
                },
            )
        assert list(refused.value.errors) == ["notify_webhook_secret_env"]


def test_the_allow_list_setting_never_takes_the_projects_secrets():
    assert webhook_secrets_parse("support:A_HOOK,B_HOOK;claims:C_HOOK") == {
        "support": frozenset({"A_HOOK", "B_HOOK"}),
        "claims": frozenset({"C_HOOK"}),
    }
    for bad in ("support:SECRET_KEY", "claims:DATABASE_URL", "support", "support:X_FILE"):
        with pytest.raises(ImproperlyConfigured):
            webhook_secrets_parse(bad)


def _dead_letter(demo):
    from workflows.ingest.services import Submission, items_ingest

    (item, _), *_ = items_ingest(
        workflow=demo.workflow,
        submissions=[Submission(input=generate_tickets(1, seed=3)[0].as_input())],
        submitted_by=get_user_model().objects.get(username="api-client"),
    )
    Item.objects.filter(pk=item.pk).update(status="dead_lettered", dead_letter_reason="boom")
    return item


def test_dead_letter_actions_need_the_operate_permission(api, demo, integrator, manager):
    item = _dead_letter(demo)
    # The integrator sees the workflow's items but does not operate its pipeline.
    assert api(integrator).get(f"/api/v1/items/{item.pk}").status_code == 200
    assert api(integrator).post(f"/api/v1/items/{item.pk}/retry").status_code == 403
    client = Client()
    client.force_login(integrator)
    assert client.post(f"/dead-letters/{item.pk}/retry").status_code == 403
    assert client.post(f"/dead-letters/{item.pk}/discard", {"reason": "x"}).status_code == 403
    assert api(manager).post(f"/api/v1/items/{item.pk}/retry").status_code == 200


def test_the_dead_letter_page_shows_only_the_teams_endpoints(demo, outsider, claims_model):
    breaker_record_failure("claims-model@1", "claims endpoint secret error")
    breaker_record_failure(str(demo.model_version), "support endpoint error")
    client = Client()
    client.force_login(get_user_model().objects.get(username="maria"))
    page = client.get("/dead-letters/").content.decode()
    assert "support endpoint error" in page
    assert "claims endpoint secret error" not in page


def test_the_profile_api_follows_the_reviewers_page_rule(api, demo, manager, other_team):
    fellow = get_user_model().objects.create_user(username="fiona", password=PASSWORD)
    membership_add(team=demo.team, user=fellow, role=Role.MANAGER)
    elsewhere = get_user_model().objects.create_user(username="eli", password=PASSWORD)
    membership_add(team=demo.team, user=elsewhere, role=Role.INTEGRATOR)
    membership_add(team=other_team["team"], user=elsewhere, role=Role.REVIEWER)
    for username in ("fiona", "eli", "nobody"):
        answer = api(manager).patch(
            f"/api/v1/reviewers/{username}/profile", {"max_claims": 1}, format="json"
        )
        assert answer.status_code == 404, username
