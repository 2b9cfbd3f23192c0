"""Signed-in sessions end after a time without activity and after an absolute lifetime,
nothing a signed-in person sees is kept in a shared or browser cache, and roles that require a
second factor get one before anything else."""

import time

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control

from reviewapp.core.accounts.two_factor import two_factor_device, two_factor_required

SIGNED_IN_AT = "signed_in_at"
ACTIVE_AT = "active_at"
# The activity stamp is rewritten at most this often: not one session write per request.
ACTIVITY_RESOLUTION_SECONDS = 60


def session_start(sender, request, user, **kwargs) -> None:
    """The absolute lifetime counts from the sign-in itself."""
    if hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[ACTIVE_AT] = now


def _is_activity(request) -> bool:
    # Pages poll in the background (the stall banner, the live board): a GET that htmx sends is
    # not the person doing something, or an open tab would keep a session alive forever.
    return not (request.method == "GET" and request.headers.get("HX-Request") == "true")


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            self._enforce(request)
        response = self.get_response(request)
        if request.user.is_authenticated or "HTTP_AUTHORIZATION" in request.META:
            patch_cache_control(response, no_store=True, private=True)
        return response

    def _enforce(self, request) -> None:
        session, now = request.session, time.time()
        started = session.setdefault(SIGNED_IN_AT, now)
        active = session.get(ACTIVE_AT, started)
        if (
            now - started > settings.REVIEWAPP_SESSION_MAX_SECONDS
            or now - active > settings.REVIEWAPP_SESSION_IDLE_SECONDS
        ):
            logout(request)
            return
        if _is_activity(request) and now - active >= ACTIVITY_RESOLUTION_SECONDS:
            session[ACTIVE_AT] = now


SSO_BACKEND = "reviewapp.core.accounts.sso.backend.SsoBackend"


class TwoFactorRequiredMiddleware:
    """People whose role requires a second factor (``REVIEWAPP_TWO_FACTOR_ROLES``) and who
    signed in with a password do nothing before they enrol one: every page sends them to the
    enrolment page (the API answers 403). A session that skipped the code of an enrolled account
    is signed out. Sign-ins through the identity provider are the provider's to secure.

    After ``django_otp.middleware.OTPMiddleware``."""

    ALLOWED_NAMES = ("two-factor", "logout", "login", "login-code")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.REVIEWAPP_TWO_FACTOR_ROLES and request.user.is_authenticated:
            answer = self._refusal(request)
            if answer is not None:
                return answer
        return self.get_response(request)

    def _refusal(self, request):
        if request.session.get(BACKEND_SESSION_KEY) == SSO_BACKEND or request.user.is_verified():
            return None
        if request.path in {reverse(name) for name in self.ALLOWED_NAMES}:
            return None
        if not two_factor_required(request.user):
            return None
        if two_factor_device(request.user) is not None:
            logout(request)
            return redirect("login")
        if request.path.startswith("/api/") or request.headers.get("HX-Request") == "true":
            return JsonResponse(
                {"detail": "Your role requires a second factor: set it up on the two-factor page."},
                status=403,
            )
        return redirect("two-factor")
