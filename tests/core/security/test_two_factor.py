"""The second factor, SSO_ONLY and the sign-in address behind trusted proxies, through the
HTTP interface (the browser path is tests/e2e/test_two_factor_in_the_browser.py)."""

from base64 import b32encode
from datetime import timedelta
from ipaddress import ip_network

import pyotp
import pytest
import time_machine
from django.test import Client, RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviewapp.core.accounts.two_factor import (
    CodeRefused,
    two_factor_disable,
    two_factor_enrolment_confirm,
    two_factor_enrolment_start,
)
from reviewapp.core.accounts.views import client_address
from reviewapp.core.audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    """A wrong code makes the device refuse every code for a second, doubling with each wrong
    one (django-otp's throttle): tests move the clock past it."""
    with time_machine.travel("2026-12-01 09:00:10Z", tick=False) as traveller:
        yield traveller


def _wait(clock, seconds=2):
    clock.shift(timedelta(seconds=seconds))


def _sign_in(client, username, password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def _b32(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode()


def _enrolled(user) -> pyotp.TOTP:
    totp = pyotp.TOTP(_b32(two_factor_enrolment_start(user=user)))
    two_factor_enrolment_confirm(user=user, code=totp.now())
    return totp


def test_enrolment_and_turning_off_need_a_right_code_and_are_audited(manager, clock):
    device = two_factor_enrolment_start(user=manager)
    assert two_factor_enrolment_start(user=manager) == device  # the same key until confirmed
    with pytest.raises(CodeRefused):
        two_factor_enrolment_confirm(user=manager, code="not-a-code")
    _wait(clock)
    totp = pyotp.TOTP(_b32(device))
    two_factor_enrolment_confirm(user=manager, code=totp.now())
    assert TOTPDevice.objects.get(user=manager).confirmed
    with pytest.raises(CodeRefused):
        two_factor_disable(user=manager, code=totp.now())  # used already
    _wait(clock, 30)
    two_factor_disable(user=manager, code=totp.now())
    assert not TOTPDevice.objects.filter(user=manager).exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="two_factor.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["two_factor.enrolled", "two_factor.disabled"]


def test_a_password_alone_signs_nobody_in_once_a_code_is_set_up(manager, clock):
    totp = _enrolled(manager)
    client = Client()
    answer = _sign_in(client, "maria")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/code/"
    assert "_auth_user_id" not in client.session
    assert client.get("/board/").status_code == 302
    refused = client.post("/accounts/login/code/", {"code": "12"})
    assert refused.status_code == 422 and "_auth_user_id" not in client.session
    _wait(clock, 30)
    answer = client.post("/accounts/login/code/", {"code": totp.now()})
    assert answer.status_code == 302
    assert client.get("/board/").status_code == 200
    # The admin site's sign-in has no step for a code: it refuses the account.
    manager.is_staff = True
    manager.save()
    admin = Client().post("/admin/login/", {"username": "maria", "password": PASSWORD})
    assert "use the main sign-in page" in admin.content.decode()


def test_a_required_role_enrols_before_anything_else(manager, settings):
    settings.REVIEWAPP_TWO_FACTOR_ROLES = frozenset({"manager"})
    client = Client()
    # Signed in with the password alone (the landing page sends each role on), then held back.
    assert _sign_in(client, "maria")["Location"] == "/"
    assert client.get("/board/")["Location"] == "/account/two-factor/"
    api = client.get("/api/v1/queues/")
    assert api.status_code == 403 and "second factor" in api.json()["detail"]
    page = client.get("/account/two-factor/")
    assert page.status_code == 200 and b"<svg" in page.content
    # Reviewers are not asked.
    reviewer = Client()
    _sign_in(reviewer, "alice")
    assert reviewer.get("/queues/").status_code == 200


def test_sso_only_keeps_passwords_for_break_glass_administrators(demo, settings):
    settings.SSO_ISSUER = "https://id.example.com"
    settings.SSO_ONLY = True
    settings.SSO_BREAK_GLASS_USERS = frozenset({"mel"})
    refused = _sign_in(Client(), "alice")
    assert refused.status_code == 200
    assert "Password sign-in is turned off" in refused.content.decode()
    assert _sign_in(Client(), "mel").status_code == 302
    assert _sign_in(Client(), "admin").status_code == 302  # a superuser


def test_the_sign_in_address_comes_from_trusted_proxies_only(settings):
    factory = RequestFactory()
    settings.REVIEWAPP_TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]
    through_proxy = factory.get(
        "/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.9, 10.0.0.7"
    )
    # The last address before the trusted proxies; what the client wrote first is not believed.
    assert client_address(through_proxy) == "203.0.113.9"
    direct = factory.get("/", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="1.1.1.1")
    assert client_address(direct) == "198.51.100.4"
    garbage = factory.get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_address(garbage) == "10.1.2.3"
    settings.REVIEWAPP_TRUSTED_PROXIES = []
    assert client_address(through_proxy) == "10.1.2.3"
