"""Signed-in sessions end after a time without activity and after an absolute lifetime, and
nothing a signed-in person sees is kept in a shared or browser cache."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.utils.cache import patch_cache_control

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
