"""API rate limits: ingest per token, everything else per signed-in person (or per address).

Limits are settings (``REVIEWAPP_THROTTLE_INGEST``, ``REVIEWAPP_THROTTLE_USER``,
``REVIEWAPP_THROTTLE_ANON``); counts live in the cache, so a deployment with several web
processes needs a shared cache (``REVIEWAPP_CACHE_URL``). A refused request gets 429 with
``Retry-After``.
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from reviewapp.core.accounts.models import ApiToken


def _is_ingest(request, view) -> bool:
    return getattr(view, "token_scopes", {}).get(request.method) == "ingest"


class IngestThrottle(SimpleRateThrottle):
    """Submissions, per token (a session submitting counts per person)."""

    scope = "ingest"

    def get_rate(self) -> str:
        return settings.REVIEWAPP_THROTTLE_INGEST

    def get_cache_key(self, request, view) -> str | None:
        if not _is_ingest(request, view):
            return None
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserThrottle(SimpleRateThrottle):
    """Every other API request, per person; anonymous callers per address."""

    scope = "user"

    def get_rate(self) -> str:
        return settings.REVIEWAPP_THROTTLE_USER

    def allow_request(self, request, view) -> bool:
        if not request.user.is_authenticated:
            self.rate = settings.REVIEWAPP_THROTTLE_ANON
            self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        if _is_ingest(request, view):
            return None
        if request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
