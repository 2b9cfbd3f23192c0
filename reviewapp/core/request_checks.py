"""Refuses, before any view runs, query parameters, form fields and headers nothing could store.

Pages read ``request.POST`` and ``request.GET`` in many places; checking them once here means no
view has to remember that PostgreSQL refuses a NUL character, and a new form is covered the day
it is added. The API's JSON bodies are checked by ``core.parsers.StrictJSONParser``.
"""

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string

from reviewapp.core.untrusted import MAX_KEY_LENGTH, MAX_PROBLEMS, shown, text_problem

logger = logging.getLogger(__name__)

STORAGE_REFUSED = "A value is too large or otherwise cannot be stored; nothing was saved."
# Longer than any real header (a session cookie, a token); gunicorn refuses 8 KB lines itself,
# this covers servers that do not.
MAX_HEADER_LENGTH = 8 * 1024
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class UntrustedInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, value in request.headers.items():
            if len(value) > MAX_HEADER_LENGTH:
                return _refuse(
                    request,
                    {name: [f"This header is longer than {MAX_HEADER_LENGTH} characters."]},
                    status=431,
                )
        try:
            problems = _field_problems(request.GET)
            if request.method == "POST" and request.content_type in _FORM_TYPES:
                problems |= _field_problems(request.POST)
        except RequestDataTooBig:
            return _refuse(request, {"body": ["The request body is too large."]}, status=413)
        except (SuspiciousOperation, MultiPartParserError) as refused:
            # Too many fields or files, a broken multipart body.
            return _refuse(request, {"body": [shown(refused, 200)]}, status=400)
        if problems:
            return _refuse(request, problems, status=400)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # The last net: a value the checks above and the view's own let through, refused by
        # PostgreSQL (a number out of a column's range). The service's transaction rolled back.
        if not isinstance(exception, DataError):
            return None
        logger.warning(
            "value refused by the database on %s %s: %s", request.method, request.path, exception
        )
        return _refuse(request, {"non_field_errors": [STORAGE_REFUSED]}, status=400)


def _field_problems(fields) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, values in fields.lists():
        where = shown(name)
        problem = text_problem(name)
        if problem is None and len(name) > MAX_KEY_LENGTH:
            problem = f"This field name is longer than {MAX_KEY_LENGTH} characters."
        if problem is None:
            problem = next(filter(None, (text_problem(value) for value in values)), None)
        if problem is not None:
            problems[where] = [problem]
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems


def _refuse(request: HttpRequest, problems: dict[str, list[str]], *, status: int) -> HttpResponse:
    detail = {
        431: "The request headers are too large.",
        413: "The request is larger than this server accepts.",
    }.get(status, "The request holds something that cannot be accepted.")
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail, "errors": problems}, status=status)
    html = render_to_string("bad_request.html", {"detail": detail, "problems": problems})
    return HttpResponse(html, status=status)
