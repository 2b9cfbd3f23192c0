"""A second factor in the browser: a manager whose role requires one is sent to enrol before
anything else, enrols by the key the page shows (codes computed here with pyotp, an independent
TOTP implementation), then signs in with password and code; a wrong code is refused."""

import time
from datetime import timedelta

import pyotp
import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Browser

from reviewapp.core.audit.models import AuditEvent
from tests.e2e.conftest import TIMEOUT_MS, watch_csp

pytestmark = pytest.mark.django_db(transaction=True)


def _code(secret: str, steps_ahead: int = 0) -> str:
    # Each code works once (the device remembers the last time step used); a code of the next
    # step is accepted too (one step of tolerance), so a second sign-in needs no waiting.
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _wrong(secret: str) -> str:
    valid = {_code(secret, steps) for steps in (-1, 0, 1, 2)}
    return next(code for code in (f"{n:06d}" for n in range(1, 10)) if code not in valid)


def _password(page, demo, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(demo.passwords[username])
    page.get_by_role("button", name="Sign in").click()


def test_a_manager_enrols_first_then_signs_in_with_a_code(
    browser: Browser, live_server, demo, settings
):
    settings.REVIEWAPP_TWO_FACTOR_ROLES = frozenset({"manager", "admin"})
    # After a wrong code the device refuses every code for a second (django-otp's throttle): the
    # clock of this process (the live server's too) moves past it instead of the test waiting.
    clock = time_machine.travel(timezone.now(), tick=True)
    traveller = clock.start()
    violations: list[str] = []
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    watch_csp(context, violations)
    page = context.new_page()

    _password(page, demo, "maria")
    page.wait_for_url("**/account/two-factor/")
    assert "Your role requires a second factor" in page.get_by_role("alert").inner_text()
    page.goto("/board/")  # anything else sends her back
    page.wait_for_url("**/account/two-factor/")
    assert page.get_by_test_id("qr").locator("svg").count() == 1
    secret = page.get_by_test_id("secret").inner_text().replace(" ", "")

    page.get_by_label("Code the app shows").fill(_wrong(secret))
    page.get_by_role("button", name="Turn on").click()
    assert "not right" in page.locator("[data-field=code]").inner_text()
    traveller.shift(timedelta(seconds=2))
    page.get_by_label("Code the app shows").fill(_code(secret))
    page.get_by_role("button", name="Turn on").click()
    page.get_by_test_id("two-factor-on").wait_for()
    assert page.goto("/board/").status == 200
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")

    _password(page, demo, "maria")
    page.wait_for_url("**/accounts/login/code/")
    page.get_by_label("Code").fill(_wrong(secret))
    page.get_by_role("button", name="Verify").click()
    assert "not right" in page.get_by_role("alert").inner_text()
    assert page.context.request.get("/board/", max_redirects=0).status == 302
    traveller.shift(timedelta(seconds=2))
    page.get_by_label("Code").fill(_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    # Signed in: past the sign-in pages, on the manager's landing page.
    page.wait_for_url(lambda url: "/accounts/" not in url)
    assert page.goto("/board/").status == 200

    enrolled = AuditEvent.objects.get(action="two_factor.enrolled")
    assert enrolled.data["user"] == "maria" and enrolled.actor_label == "maria"
    context.close()
    clock.stop()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
