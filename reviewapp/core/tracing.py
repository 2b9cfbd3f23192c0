"""Traces (OpenTelemetry): off unless the standard ``OTEL_*`` environment asks for them.

Tracing starts when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) or
``OTEL_TRACES_EXPORTER`` is set, and never when ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none``. Each process sets it up after it is forked (gunicorn's
``post_fork``, Celery's ``worker_process_init``), never at import: the span processor's export
thread and the exporter's connections do not survive a fork.

How an item's trace hangs together. The ingest request's span context is stored on each item
(``Item.trace_context``, a W3C ``traceparent``), because items outlive messages: a batch may be
the reconciler's, mixing items of many requests, and a review is decided hours later in another
request. So:

- work on a batch (each pipeline step, the model call, opening the review tasks) is a child of
  the Celery message that carried the batch, and *links* to the trace of every item in it whose
  trace is another one (a span has one parent but may link to many). A batch straight from one
  ingest request is in that request's trace (Celery carries the context in its headers), so the
  usual case is one trace with no links;
- work on one item (the reviewer's decision, the webhook delivery) is a *child* of the item's
  trace, and links to the request or message that caused it when that is another trace: the
  item's trace shows its whole life, the reviewer's request shows what it did.

Each request's server span is ``RequestSpanMiddleware``'s, not opentelemetry-instrumentation-
django's: that one resolved the URL a second time, built the absolute URL three times and set
a dozen attributes per request, most of what tracing cost a review.
"""

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer = trace.NoOpTracer()
_provider: Any = None
_enabled = False
_request_spans = False
_excluded_urls: re.Pattern[str] | None = None

# URLs whose requests are never traced unless OTEL_PYTHON_DJANGO_EXCLUDED_URLS says otherwise:
# probes and scrapes every few seconds would drown the traces that matter.
DEFAULT_EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$"
INSTRUMENTATIONS = ("django", "celery", "psycopg")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def tracing_wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether the environment asks for traces (the OpenTelemetry SDK's own variables)."""
    if _truthy(environ.get("OTEL_SDK_DISABLED")):
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters == "none":
        return False
    return bool(
        exporters
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def sql_spans_wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether each SQL statement gets a span: only when ``OTEL_REVIEWAPP_SQL_SPANS`` asks.

    A span per statement is most of what tracing costs (a review runs a dozen statements:
    its CPU went up by a fifth with them, see the README's "What it costs"), so it is for
    following a problem; ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=psycopg`` still wins."""
    return _truthy(environ.get("OTEL_REVIEWAPP_SQL_SPANS")) and "psycopg" not in _disabled(environ)


def _disabled(environ: dict[str, str] | os._Environ[str] = os.environ) -> set[str]:
    """The instrumentations ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` turns off."""
    return {
        name.strip().lower()
        for name in environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
    }


def excluded_urls_pattern(
    environ: dict[str, str] | os._Environ[str] = os.environ,
) -> re.Pattern[str] | None:
    """The URLs not traced: ``OTEL_PYTHON_DJANGO_EXCLUDED_URLS``, comma-separated regular
    expressions searched in the full URL, as OpenTelemetry's Django instrumentation reads it."""
    value = environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") or DEFAULT_EXCLUDED_URLS
    patterns = [pattern.strip() for pattern in value.split(",") if pattern.strip()]
    return re.compile("|".join(patterns)) if patterns else None


def tracing_enabled() -> bool:
    return _enabled


def tracing_configure(*, role: str) -> bool:
    """Set up tracing in this process (once) if the environment asks for it; True when on.

    ``role`` names the process (``web``, ``worker``) in the default ``service.name``
    (``reviewapp-web``...); ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` win.
    """
    if _enabled or not tracing_wanted():
        return _enabled
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"reviewapp.process": role})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": f"reviewapp-{role}"}))
    # The sampler comes from OTEL_TRACES_SAMPLER (parent-based, always on by default); the
    # batching from OTEL_BSP_*.
    provider = TracerProvider(resource=resource)
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing_install(provider, instrument=True)
    return True


def _exporters() -> list:
    from django.core.exceptions import ImproperlyConfigured

    names = [
        name.strip().lower()
        for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")
        if name.strip()
    ]
    exporters = []
    for name in names:
        if name == "otlp":
            exporters.append(_otlp_exporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise ImproperlyConfigured(
                f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none."
            )
    return exporters


def _otlp_exporter():
    from django.core.exceptions import ImproperlyConfigured

    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol != "http/protobuf":
        # gRPC would bring grpcio, whose threads need care across the workers' forks; every
        # collector takes OTLP over HTTP (port 4318).
        raise ImproperlyConfigured(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: reviewapp exports http/protobuf only."
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Endpoint, headers, timeout, compression and certificates from OTEL_EXPORTER_OTLP_*.
    return OTLPSpanExporter()


def tracing_install(
    provider, *, instrument: bool = False, request_spans: bool | None = None
) -> None:
    """Make ``provider`` this process's tracer provider (``instrument``: and trace requests,
    Celery and psycopg through it; ``request_spans``: requests only, or not). Tests install
    one with an in-memory exporter."""
    global _tracer, _provider, _enabled, _request_spans, _excluded_urls
    if _provider is None:
        trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("reviewapp")
    _enabled = True
    if request_spans is None:
        request_spans = instrument and "django" not in _disabled()
    _request_spans = request_spans
    _excluded_urls = excluded_urls_pattern()
    if instrument:
        _instrument()


def tracing_uninstall() -> None:
    """Stop making spans here (tests); the global provider stays, as OpenTelemetry wants."""
    global _tracer, _enabled, _request_spans
    _tracer = trace.NoOpTracer()
    _enabled = False
    _request_spans = False


def _instrument() -> None:
    disabled = _disabled()
    if "celery" not in disabled:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument()
    if sql_spans_wanted():
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        # Connections opened from now on are traced (one span per statement).
        PsycopgInstrumentor().instrument()


def tracing_flush(timeout_ms: int = 5000) -> None:
    """Send what is buffered (a process about to exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


# --- the server span of each request ----------------------------------------------------------

# Semantic conventions' known methods; any other is "_OTHER", so a client cannot make up names.
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
_SPAN_KEY = "_reviewapp_server_span"
_ERROR_KEY = "_reviewapp_server_span_error"


class _MetaGetter(Getter):
    """Request headers from a WSGI environ (``traceparent`` is ``HTTP_TRACEPARENT``)."""

    def get(self, carrier: dict, key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return None if value is None else [value]

    def keys(self, carrier: dict) -> list[str]:
        return [key[5:].lower().replace("_", "-") for key in carrier if key.startswith("HTTP_")]


_meta_getter = _MetaGetter()


class RequestSpanMiddleware:
    """A server span per request, in the caller's trace when its ``traceparent`` (or any
    propagator of ``OTEL_PROPAGATORS``) names one, else a new trace. Named ``<method>
    <route>`` (``POST api/v1/tasks/<int:task_id>/decision``) once the URL is resolved, never by the
    path: paths hold ids. First in the middleware, so the span covers every other one; requests
    matching ``OTEL_PYTHON_DJANGO_EXCLUDED_URLS`` (the probes and /metrics by default) get none.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _request_spans:
            return self.get_response(request)
        path = request.path
        scheme = request.scheme
        # The full URL, as OpenTelemetry's setting is matched; the host unchecked (get_host()
        # would refuse a bad one here, before the host check that answers it with a 400).
        url = f"{scheme}://{request.META.get('HTTP_HOST', '')}{path}"
        if _excluded_urls is not None and _excluded_urls.search(url):
            return self.get_response(request)
        known = request.method in _METHODS
        method = request.method if known and request.method else "_OTHER"
        parent = propagate.extract(request.META, getter=_meta_getter)
        span = _tracer.start_span(
            method if known else "HTTP",  # the route is added once the URL is resolved
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "url.scheme": scheme},
        )
        setattr(request, _SPAN_KEY, span)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            response = self.get_response(request)
            if span.is_recording():
                status = response.status_code
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    # A server span fails on a 5xx only: a 4xx is the client's.
                    error = getattr(request, _ERROR_KEY, None)
                    if error is not None:
                        span.record_exception(error)
                    span.set_attribute(
                        "error.type", type(error).__qualname__ if error else str(status)
                    )
                    span.set_status(trace.StatusCode.ERROR)
            return response
        finally:
            otel_context.detach(token)
            span.end()

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        span = getattr(request, _SPAN_KEY, None)
        match = request.resolver_match
        if span is not None and match is not None and match.route and span.is_recording():
            method = request.method if request.method in _METHODS else "HTTP"
            span.update_name(f"{method} {match.route}")
            span.set_attribute("http.route", match.route)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """A view's exception, kept until the response says whether it was a 5xx (an Http404
        becomes a 404)."""
        if getattr(request, _SPAN_KEY, None) is not None:
            setattr(request, _ERROR_KEY, exception)


# --- what the code calls ----------------------------------------------------------------------


def current_traceparent() -> str:
    """The W3C ``traceparent`` of the current span ("" without one): stored on items."""
    if not _enabled:
        return ""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent", "")


def current_ids() -> tuple[str, str]:
    """(trace id, span id) in hex of the current span, ("", "") without one: for the logs."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return "", ""
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def _span_context_of(traceparent: str) -> trace.SpanContext | None:
    if not traceparent:
        return None
    span_context = trace.get_current_span(
        _propagator.extract({"traceparent": traceparent})
    ).get_span_context()
    return span_context if span_context.is_valid else None


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager:
    """A child span of the current one; nothing at all while tracing is off."""
    if not _enabled:
        return contextlib.nullcontext()
    return _tracer.start_as_current_span(name, attributes=attributes)


def items_span(
    name: str, traceparents: Iterable[str], **attributes: Any
) -> contextlib.AbstractContextManager:
    """A span of work on a batch of items: a child of the current span, linked to each other
    trace the items came from (see the module's docstring)."""
    if not _enabled:
        return contextlib.nullcontext()
    current = trace.get_current_span().get_span_context().trace_id
    links, seen = [], {current}
    # Items of one request share their traceparent: each distinct one is read once.
    for traceparent in set(traceparents):
        span_context = _span_context_of(traceparent)
        if span_context is not None and span_context.trace_id not in seen:
            seen.add(span_context.trace_id)
            links.append(trace.Link(span_context))
    return _tracer.start_as_current_span(name, links=links, attributes=attributes)


def item_span(name: str, traceparent: str, **attributes: Any) -> contextlib.AbstractContextManager:
    """A span of work on one item: in the item's trace. A child of the current span when that
    is in the item's trace already, else a child of the item's ingest and linked to the current
    span (the reviewer's request, the sweep's message)."""
    if not _enabled:
        return contextlib.nullcontext()
    item_context = _span_context_of(traceparent)
    current = trace.get_current_span().get_span_context()
    if item_context is None or item_context.trace_id == current.trace_id:
        return _tracer.start_as_current_span(name, attributes=attributes)
    links = [trace.Link(current)] if current.is_valid else []
    parent = trace.set_span_in_context(trace.NonRecordingSpan(item_context))
    return _tracer.start_as_current_span(name, context=parent, links=links, attributes=attributes)


def bound(callback: Callable[[], object]) -> Callable[[], object]:
    """``callback`` to run later (on commit) in the trace context of now: a message sent after
    the transaction commits belongs to the span that asked for it, not to whatever is current
    when the commit happens."""
    if not _enabled:
        return callback
    captured = otel_context.get_current()

    def run() -> object:
        token = otel_context.attach(captured)
        try:
            return callback()
        finally:
            otel_context.detach(token)

    return run


def outcome(span: trace.Span | None, error: str, *, status_code: int | None = None) -> None:
    """Mark ``span`` (None while tracing is off) failed with ``error``, or not."""
    if span is None:
        return
    if status_code is not None:
        span.set_attribute("http.response.status_code", status_code)
    if error:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error[:200]))
