"""``/healthz`` and ``/readyz`` for load balancers and Kubernetes probes.

Answered before any other middleware: a probe comes from inside the cluster, over plain HTTP and
with the pod's address as its host, and must not be redirected to HTTPS, refused for its host or
given a session.
"""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from reviewapp.core.health.readiness import readiness

logger = logging.getLogger(__name__)


class HealthProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return JsonResponse({"alive": True})
        if request.path == "/readyz":
            checks = readiness()
            ready = all(check.ok for check in checks)
            body = {
                "ready": ready,
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
            }
            return JsonResponse(body, status=200 if ready else 503)
        return self.get_response(request)


UNAVAILABLE = "The database is not available right now. Try again in a moment."
UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Try again in a moment</title>"
    "<main style='font-family:sans-serif;max-width:40rem;margin:3rem auto'>"
    "<h1>Try again in a moment</h1><p>{message}</p><p><a href=''>Reload</a></p></main></html>"
)


class DatabaseUnavailableMiddleware:
    """A request that meets a database restart answers 503 with Retry-After, not a 500.

    Only the connection is at fault, so the caller is told to retry; what a view had already
    committed it must say itself (submit and next does)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning(
            "database unavailable during %s %s: %s", request.method, request.path, exception
        )
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": UNAVAILABLE}, status=503)
        else:
            response = HttpResponse(UNAVAILABLE_PAGE.format(message=UNAVAILABLE), status=503)
        response["Retry-After"] = "5"
        return response
