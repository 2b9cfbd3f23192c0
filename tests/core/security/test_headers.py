"""Response headers: the Content-Security-Policy, and the API schema behind sign-in."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_pages_carry_a_strict_content_security_policy(demo, reviewer):
    client = Client()
    client.force_login(reviewer)
    policy = client.get("/queues/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    assert "Content-Security-Policy" in Client().get("/accounts/login/")


def test_the_api_schema_is_for_signed_in_people_unless_opened(demo, integrator, settings, api):
    assert Client().get("/api/schema/").status_code in (401, 403)
    assert api(integrator).get("/api/schema/").status_code == 200
    settings.REVIEWAPP_PUBLIC_API_SCHEMA = True
    assert Client().get("/api/schema/").status_code == 200
