"""Single sign-on without a browser: the group map, the account a subject signs in as, the sync
of teams, roles and skills at every sign-in (a lost role hands back its claims, audited), and
the backend and pages staying out of the way while SSO is off. The browser test against a real
provider is tests/e2e/test_sso_in_the_browser.py."""

import json

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from reviewapp.core.accounts.models import Membership, Role, SsoIdentity
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.accounts.sso.mapping import Access, access_from_claims, group_map_parse
from reviewapp.core.accounts.sso.services import sso_user_sign_in
from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.models import TaskStatus

pytestmark = pytest.mark.django_db

ISSUER = "https://id.example.com"
MAP = {
    "support-reviewers": {"team": "support", "role": "reviewer"},
    "support-leads": [
        {"team": "support", "role": "manager"},
        {"team": "support", "role": "reviewer", "skills": ["Billing"]},
    ],
    "legal": {"skills": ["legal"]},
}


def test_the_group_map_says_what_each_group_grants_and_what_sso_manages():
    group_map = group_map_parse(json.dumps(MAP))
    assert group_map.grants["support-leads"] == Access(
        frozenset({("support", "manager"), ("support", "reviewer")}), frozenset({"billing"})
    )
    assert group_map.managed.skills == {"billing", "legal"}
    claims = {"groups": ["support-reviewers", "legal", "unknown", 7]}
    assert access_from_claims(claims, group_map=group_map, claim="groups") == Access(
        frozenset({("support", "reviewer")}), frozenset({"legal"})
    )
    assert access_from_claims({"roles": "legal"}, group_map=group_map, claim="roles").skills == {
        "legal"
    }
    assert access_from_claims({"groups": {"a": 1}}, group_map=group_map, claim="groups") == Access()
    assert group_map_parse("") == group_map_parse("   ")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "is not JSON"),
        ('["a"]', "JSON object"),
        ('{"g": {"team": "support", "role": "boss"}}', "the role must be one of"),
        ('{"g": {"role": "reviewer"}}', "name the team"),
        ('{"g": {"skills": ["has space"]}}', "lower-case letters"),
        ('{"g": {"colour": "red"}}', "each grant is an object"),
    ],
)
def test_a_malformed_group_map_stops_the_start_naming_the_problem(raw, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        group_map_parse(raw)


@pytest.fixture
def sso(settings):
    settings.SSO_ISSUER = ISSUER
    settings.SSO_GROUP_MAP = group_map_parse(json.dumps(MAP))


def _claims(groups, sub="subject-1", name="sam"):
    return {
        "sub": sub,
        "preferred_username": name,
        "email": f"{name}@example.com",
        "groups": groups,
    }


def test_a_lost_group_takes_the_role_and_skill_away_and_hands_back_the_claims(
    sso, demo, routed_items
):
    routed_items(count=12)
    sam = sso_user_sign_in(issuer=ISSUER, claims=_claims(["support-leads", "legal"]))
    assert set(Membership.objects.filter(user=sam).values_list("role", flat=True)) == {
        Role.MANAGER,
        Role.REVIEWER,
    }
    assert sam.reviewer_profile.skills == ["billing", "legal"]
    # A role the map never names is the administrators' business, not the provider's.
    membership_add(team=demo.team, user=sam, role=Role.INTEGRATOR)
    task = review_task_claim(queue=demo.queue, reviewer=sam)

    again = sso_user_sign_in(issuer=ISSUER, claims=_claims(["legal"]))

    assert again == sam
    assert list(Membership.objects.filter(user=sam).values_list("role", flat=True)) == [
        Role.INTEGRATOR
    ]
    sam.reviewer_profile.refresh_from_db()
    assert sam.reviewer_profile.skills == ["legal"]
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and task.claimed_by_id is None
    released = AuditEvent.objects.get(action="task.released", object_id=str(task.pk))
    assert released.data["previous_holder"] == "sam" and released.actor_id is None
    assert AuditEvent.objects.filter(action="membership.removed").count() == 2
    changed = AuditEvent.objects.filter(action="reviewer_profile.changed").order_by("id").last()
    assert changed.data["after"] == {"skills": ["legal"]}


def test_claims_stay_where_a_remaining_role_still_reviews(sso, demo, routed_items):
    routed_items(count=12)
    sam = sso_user_sign_in(issuer=ISSUER, claims=_claims(["support-leads"]))
    task = review_task_claim(queue=demo.queue, reviewer=sam)
    sso_user_sign_in(issuer=ISSUER, claims=_claims(["support-reviewers", "support-leads"]))
    # Managers review too: giving up only the manager role keeps the claim.
    sso_user_sign_in(issuer=ISSUER, claims=_claims(["support-reviewers"]))
    task.refresh_from_db()
    assert task.status == TaskStatus.CLAIMED and task.claimed_by == sam


def test_a_subject_never_takes_over_a_local_account_by_its_name(sso, demo):
    user = sso_user_sign_in(issuer=ISSUER, claims=_claims([], name="alice"))
    assert user.username.startswith("alice-") and not user.has_usable_password()
    assert SsoIdentity.objects.get(user=user).subject == "subject-1"
    other = sso_user_sign_in(issuer=ISSUER, claims=_claims([], sub="subject-2", name="alice"))
    assert other != user
    assert get_user_model().objects.get(username="alice").sso_identities.count() == 0
    assert AuditEvent.objects.filter(action="sso.account_created").count() == 2


def test_the_backend_and_the_pages_stay_out_of_the_way_while_sso_is_off(demo, settings):
    settings.SSO_ISSUER = ""
    client = Client()
    assert client.get("/accounts/sso/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404
    assert "single sign-on" not in client.get("/accounts/login/").content.decode()
    assert authenticate(None, nonce="n") is None


def test_a_callback_that_we_did_not_start_fails_with_a_message(sso, demo):
    client = Client()
    answer = client.get("/accounts/sso/callback/?code=x&state=y", follow=True)
    assert answer.redirect_chain[-1][0] == "/accounts/login/"
    assert "Single sign-on did not complete" in answer.content.decode()
