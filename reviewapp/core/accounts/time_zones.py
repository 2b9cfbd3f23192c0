"""The reader's time zone: their saved choice, else the browser's (the ``tz`` cookie that
static/js/timezone.js sets), else UTC. Pages show local times; the API always answers in UTC."""

import zoneinfo
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

COOKIE = "tz"
SESSION_KEY = "time_zone"


@lru_cache(maxsize=256)
def zone_or_none(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone called ``name``, or None for anything that is not an IANA zone name (a cookie
    is user input: "../etc", "", very long strings)."""
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def request_zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    session = getattr(request, "session", None)
    saved = session.get(SESSION_KEY) if session is not None else None
    return zone_or_none(saved) or zone_or_none(request.COOKIES.get(COOKIE))


class TimeZoneMiddleware:
    """Activates the reader's zone for pages; leaves API responses in UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None if request.path.startswith("/api/") else request_zone(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
