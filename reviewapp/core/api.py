"""What every API endpoint shares: one error shape and the mapping of service errors to statuses.

Errors are ``{"detail": "...", "errors": {"field": ["message", ...]}}``; ``errors`` is present
when the problem belongs to particular fields.
"""

import logging

from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import JsonResponse
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from reviewapp.core.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    QuotaExceeded,
    UpstreamFailed,
)
from reviewapp.core.inputs import flat_errors
from reviewapp.core.parsers import PayloadTooLarge
from reviewapp.core.request_checks import STORAGE_REFUSED
from reviewapp.core.untrusted import SHOWN_LENGTH, shown

logger = logging.getLogger(__name__)


# Service errors -> status. Field errors travel in ``exc.errors`` (InvalidRequest).
SERVICE_ERRORS: dict[type[Exception], int] = {
    InvalidRequest: status.HTTP_400_BAD_REQUEST,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    QuotaExceeded: status.HTTP_429_TOO_MANY_REQUESTS,
    UpstreamFailed: status.HTTP_502_BAD_GATEWAY,
}


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, DataError):
        # The last net: a value the checks let through, refused by PostgreSQL (a number out of
        # a column's range). The service's transaction rolled back.
        logger.warning("value refused by the database: %s", exc)
        return Response({"detail": STORAGE_REFUSED}, status=status.HTTP_400_BAD_REQUEST)
    for error_type, status_code in SERVICE_ERRORS.items():
        if isinstance(exc, error_type):
            body: dict = {"detail": _cut(str(exc))}
            errors = getattr(exc, "errors", None)
            if errors:
                body["errors"] = _cut_errors(errors)
            headers = None
            if isinstance(exc, QuotaExceeded):
                headers = {"Retry-After": str(exc.retry_after_seconds)}
            return Response(body, status=status_code, headers=headers)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": "The request is not valid.",
            "errors": _cut_errors(flat_errors(exc.detail)),
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": _cut(str(response.data["detail"]))}
    return response


# A message may quote the value it refuses (a key, a choice): never a long one back.
MESSAGE_LENGTH = 300


def _cut(message: str) -> str:
    return shown(message, MESSAGE_LENGTH)


def _cut_errors(errors: dict) -> dict[str, list[str]]:
    """Field paths with each part cut to ``SHOWN_LENGTH``, and messages cut as well."""
    return {
        ".".join(shown(part, SHOWN_LENGTH) for part in str(path).split(".")): [
            _cut(str(message))
            for message in ([messages] if isinstance(messages, str) else messages)
        ]
        for path, messages in errors.items()
    }


ERROR_SCHEMA = {
    "type": "object",
    "description": "Why the request was refused.",
    "properties": {
        "detail": {"type": "string", "description": "The reason, in words."},
        "errors": {
            "type": "object",
            "description": "Messages per field of the request, when the problem is in fields.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["detail"],
}
_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# Refusals every endpoint can give, and when; an endpoint's own description of one wins.
_COMMON_ERRORS = {
    "400": "The request is not valid; `errors` names the fields.",
    "401": "No credentials, or a token that is not valid "
    "(send `Authorization: Token <key>` or `Authorization: Bearer <key>`).",
    "403": "Signed in, but not allowed to do this.",
    "404": "No such object, or none you may see.",
}


def error_responses(result, generator, request, public):
    """drf-spectacular post-processing: the one error shape, described on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            wanted = ["401", "403"]
            if "{" in path:
                wanted.append("404")
            if method in ("post", "put", "patch") or operation.get("parameters"):
                wanted.append("400")
            for code in wanted:
                responses.setdefault(
                    code, {"description": _COMMON_ERRORS[code], "content": _ERROR_REF}
                )
            for code, response in responses.items():
                if code[0] in "45" and "content" not in response:
                    response["content"] = _ERROR_REF
    return result


class ApiSchemaView(SpectacularAPIView):
    """The OpenAPI schema: for signed-in people (session or token) unless
    ``REVIEWAPP_PUBLIC_API_SCHEMA`` opens it to anyone."""

    def get_permissions(self):
        if settings.REVIEWAPP_PUBLIC_API_SCHEMA:
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]


_docs = SpectacularSwaggerSplitView.as_view(url_name="api-schema")


# Swagger UI's page carries one fixed inline <style> (allowed by its hash, nothing else inline)
# and its stylesheet draws icons as data: images.
SWAGGER_UI_POLICY = {
    "style-src": ["'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"],
    "img-src": ["data:"],
}


@csp_update(SWAGGER_UI_POLICY)
def api_docs(request, *args, **kwargs):
    """The interactive API docs, behind the same rule as the schema they read."""
    if not settings.REVIEWAPP_PUBLIC_API_SCHEMA and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return _docs(request, *args, **kwargs)


def not_found(request, exception):
    """An address nothing answers: under /api/ the API's JSON error (clients parse every answer
    as JSON), elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "No such address, or no such object."}, status=404)
    return page_not_found(request, exception)
