"""Single sign-on in the browser against a real OpenID Connect provider (django-oauth-toolkit in
its own process, see ``tests/support/oidc_provider``): the provider's groups give a team and
roles at sign-in, taking a group away takes the access away at the next sign-in and hands the
person's claimed tasks back to the queue; ``SSO_ONLY`` leaves password sign-in to break-glass
administrators."""

import json

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, BrowserContext

from reviewapp.core.accounts.models import Membership, Role, SsoIdentity
from reviewapp.core.accounts.sso.discovery import provider_metadata_forget
from reviewapp.core.accounts.sso.mapping import group_map_parse
from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.models import TaskStatus
from tests.e2e.conftest import TIMEOUT_MS, watch_csp
from tests.support.oidc import OidcProvider

pytestmark = pytest.mark.django_db(transaction=True)

GROUP_MAP = {
    "support-reviewers": {"team": "support", "role": "reviewer"},
    "support-leads": [{"team": "support", "role": "manager"}],
    "billing-experts": {"skills": ["billing"]},
}
SAM = {
    "username": "sam",
    "password": "provider-password-sam",
    "email": "sam@example.com",
    "groups": ["support-reviewers", "support-leads", "billing-experts"],
}


@pytest.fixture(scope="module")
def running_provider(live_server):
    # One provider process for the module: starting one (a Django process migrating its SQLite
    # file) costs more than a test.
    with OidcProvider(
        redirect_uri=f"{live_server.url}/accounts/sso/callback/", people=[SAM]
    ) as running:
        yield running


@pytest.fixture
def provider(running_provider, settings):
    settings.SSO_ISSUER = running_provider.issuer
    settings.OIDC_RP_CLIENT_ID = running_provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = running_provider.client_secret
    settings.SSO_GROUP_MAP = group_map_parse(json.dumps(GROUP_MAP))
    provider_metadata_forget()
    yield running_provider
    provider_metadata_forget()


@pytest.fixture
def browser_context(browser: Browser, live_server):
    violations: list[str] = []
    contexts: list[BrowserContext] = []

    def new() -> BrowserContext:
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        watch_csp(context, violations)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


def _landed(page, ours: str) -> None:
    """Signed in: back on this site (``ours``), past the sign-in pages (each role lands on its
    own page)."""
    page.wait_for_url(lambda url: url.startswith(ours) and "/accounts/" not in url)


def _sso_sign_in(page, *, at_provider: bool) -> None:
    page.goto("/accounts/login/")
    ours = page.url.split("/accounts/")[0]
    page.get_by_role("link", name="Sign in with single sign-on").click()
    if at_provider:
        page.get_by_label("Provider username").fill(SAM["username"])
        page.get_by_label("Provider password").fill(SAM["password"])
        page.get_by_role("button", name="Continue").click()
    _landed(page, ours)
    page.goto("/queues/")


def _actions(action: str) -> list[dict]:
    return list(
        AuditEvent.objects.filter(action=action).order_by("id").values_list("data", flat=True)
    )


def test_groups_give_access_and_a_removed_group_takes_it_away_with_the_claims(
    provider, browser_context, demo, routed_items
):
    routed_items(count=12)
    page = browser_context().new_page()
    _sso_sign_in(page, at_provider=True)

    sam = SsoIdentity.objects.select_related("user").get(issuer=provider.issuer).user
    assert sam.username == "sam" and not sam.has_usable_password()
    roles = set(Membership.objects.filter(user=sam).values_list("team__slug", "role"))
    assert roles == {("support", Role.REVIEWER), ("support", Role.MANAGER)}
    assert sam.reviewer_profile.skills == ["billing"]
    assert demo.queue.name in page.locator("main").inner_text()
    added = [(e["team"], e["role"]) for e in _actions("membership.added") if e["user"] == "sam"]
    assert sorted(added) == [("support", "manager"), ("support", "reviewer")]

    task = review_task_claim(queue=demo.queue, reviewer=sam)
    assert task is not None

    # The directory drops every group; the next sign-in takes the access away.
    provider.set_groups("sam", [])
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    _sso_sign_in(page, at_provider=False)

    assert not Membership.objects.filter(user=sam).exists()
    assert demo.queue.name not in page.locator("main").inner_text()
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and task.claimed_by_id is None
    removed = [(e["role"], e["reason"]) for e in _actions("membership.removed")]
    assert sorted(removed) == [
        ("manager", "no longer granted by the identity provider"),
        ("reviewer", "no longer granted by the identity provider"),
    ]
    released = AuditEvent.objects.get(action="task.released", object_id=str(task.pk))
    assert released.data["previous_holder"] == "sam"
    assert released.data["reason"] == "no longer granted by the identity provider"
    sam.reviewer_profile.refresh_from_db()
    assert sam.reviewer_profile.skills == []
    assert get_user_model().objects.filter(username__startswith="sam").count() == 1


def test_sso_only_refuses_a_password_but_lets_a_break_glass_admin_in(
    provider, browser_context, demo, settings
):
    settings.SSO_ONLY = True
    page = browser_context().new_page()
    page.goto("/accounts/login/")
    assert "break-glass administrators only" in page.get_by_test_id("sso-only").inner_text()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(demo.passwords["alice"])
    page.get_by_role("button", name="Sign in").click()
    assert "Password sign-in is turned off" in page.get_by_role("alert").inner_text()
    assert "/accounts/login/" in page.url

    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(demo.passwords["admin"])
    page.get_by_role("button", name="Sign in").click()
    _landed(page, page.url.split("/accounts/")[0])
