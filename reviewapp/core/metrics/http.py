"""Request rate and latency per view, kept by prometheus-client in the web process itself.

Under gunicorn, each worker process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
(set before the workers start: see ``reviewapp/gunicorn_config.py``) and a scrape, answered by
whichever worker, sums the files of all of them.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "reviewapp_http_requests",
    "HTTP requests answered, by view (the URL pattern's name), method and status code.",
    ["view", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "reviewapp_http_request_duration_seconds",
    "Time to answer an HTTP request, by view and method.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Methods outside this set are counted as "other": a label value per made-up method would let
# any client grow the series without bound.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def view_name(request: HttpRequest) -> str:
    """The route's name (``queue-list``, ``admin:index``), never the raw path: paths hold ids."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        if not settings.REVIEWAPP_METRICS_ENABLED:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        view = view_name(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(view, method).observe(elapsed)
        return response
