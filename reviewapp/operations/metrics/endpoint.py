"""``/metrics``: only for the scraper, by bearer token or by the network it scrapes from.

Answered before the other middleware, like the health probes: Prometheus scrapes over plain
HTTP inside the cluster, by the pod's address, with no session.
"""

import hmac
from collections.abc import Callable
from ipaddress import ip_address, ip_network

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

# The classic text format: every Prometheus 2.x reads it, and our names need no escaping.
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from reviewapp.operations.metrics.exposition import metrics_render

PATH = "/metrics"


def metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this request may not read the metrics, as a response; None when it may.

    Off (404) while neither a token nor a network is configured. The network is the direct
    peer's address: a forwarded-for header is the client's word and is not trusted here.
    """
    token: str = settings.METRICS_TOKEN
    networks: list[str] = settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return JsonResponse({"detail": "Not found."}, status=404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
        return None
    if networks and _peer_in(request.META.get("REMOTE_ADDR", ""), networks):
        return None
    if token and not given:
        response = JsonResponse({"detail": "Send the metrics token as a bearer token."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return JsonResponse({"detail": "You may not read the metrics."}, status=403)


def _peer_in(address: str, networks: list[str]) -> bool:
    try:
        peer = ip_address(address)
    except ValueError:
        return False
    return any(peer in ip_network(network, strict=False) for network in networks)


class MetricsEndpointMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != PATH:
            return self.get_response(request)
        refusal = metrics_refusal(request)
        if refusal is not None:
            return refusal
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"detail": "Use GET."}, status=405, headers={"Allow": "GET, HEAD"})
        return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
