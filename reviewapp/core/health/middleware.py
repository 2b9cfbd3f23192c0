"""``/healthz`` and ``/readyz`` for load balancers and Kubernetes probes.

Answered before any other middleware: a probe comes from inside the cluster, over plain HTTP and
with the pod's address as its host, and must not be redirected to HTTPS, refused for its host or
given a session.
"""

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
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


UNAVAILABLE = (
    "The database is not available right now, so nothing was saved. Try again in a moment."
)
PARTLY_SAVED = (
    "The database went away after part of this request was saved. Reload to see what was "
    "saved before you try again."
)
UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Try again in a moment</title>"
    "<link rel=stylesheet href='/static/css/app.css'><main class=narrow>"
    "<h1>Try again in a moment</h1><p>{message}</p><p><a href=''>Reload</a></p></main></html>"
)
# Statements that change rows; anything else (reads, row and advisory locks) saves nothing.
WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|WITH\b.*\b(INSERT|UPDATE|DELETE))\b", re.I | re.S)


class CommitWatch:
    """Whether a write of this request has been committed, seen on the connection itself.

    A write in autocommit mode is committed once it returns; one inside a transaction when the
    connection commits (and not when it rolls back). For the request's duration the watch sits
    on the connection as an execute wrapper and around its ``commit`` and ``rollback``: no
    ``on_commit`` callback, so what a view schedules after commit stays exactly what it was."""

    def __init__(self, db) -> None:
        self.db = db
        self.saved = False
        self._pending = False

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if isinstance(sql, str) and WRITE.match(sql):
            if self.db.in_atomic_block or not self.db.get_autocommit():
                self._pending = True
            else:
                self.saved = True
        return result

    @contextmanager
    def watching(self) -> Iterator["CommitWatch"]:
        db = self.db
        commit, rollback = db.commit, db.rollback

        def committed() -> None:
            commit()
            self.saved = self.saved or self._pending
            self._pending = False

        def rolled_back() -> None:
            self._pending = False
            rollback()

        db.commit, db.rollback = committed, rolled_back  # type: ignore[method-assign]
        try:
            with db.execute_wrapper(self):
                yield self
        finally:
            del db.commit, db.rollback  # the class's own methods again


class DatabaseUnavailableMiddleware:
    """A request that meets a database restart answers 503 with Retry-After, not a 500.

    Only the connection is at fault, so the caller is told to retry. The answer says nothing
    was saved only when that is true: a view whose work committed before the database went
    away must answer for it itself (submit and next does); should one not, the 503 says that
    part was saved instead of inviting a blind retry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        watch = CommitWatch(connections[DEFAULT_DB_ALIAS])
        request.database_commits = watch  # type: ignore[attr-defined]
        with watch.watching():
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        watch = getattr(request, "database_commits", None)
        saved = watch is not None and watch.saved
        logger.warning(
            "database unavailable during %s %s (%s): %s",
            request.method,
            request.path,
            "after a commit" if saved else "nothing committed",
            exception,
        )
        message = PARTLY_SAVED if saved else UNAVAILABLE
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": message}, status=503)
        else:
            response = HttpResponse(UNAVAILABLE_PAGE.format(message=message), status=503)
        response["Retry-After"] = "5"
        return response
