"""Structured logs that carry the correlation id of the request an item arrived with.

The ingest request's ``X-Correlation-Id`` (or a new one) is stored on the item; the pipeline
sets it again around each step, so one grep follows an item from the API through every task.
When tracing is on, each line also names the current trace and span (``trace_id``,
``span_id``), so a log line leads to its trace and a trace to its log lines.
"""

import json
import logging
from contextvars import ContextVar

from reviewapp.core.tracing import current_ids

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        record.trace_id, record.span_id = current_ids()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", ""),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
        }
        for key in ("item_id", "step", "attempt", "duration_ms", "outcome"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class CorrelationMiddleware:
    """Takes the caller's X-Correlation-Id (or makes one) and echoes it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import uuid

        given = request.headers.get("X-Correlation-Id", "")[:64]
        if not given.isascii() or not given.isprintable():
            # It lands in logs and item rows: a NUL or a control character would break both.
            given = ""
        request.correlation_id = given or uuid.uuid4().hex
        token = correlation_id.set(request.correlation_id)
        try:
            response = self.get_response(request)
        finally:
            correlation_id.reset(token)
        response["X-Correlation-Id"] = request.correlation_id
        return response
