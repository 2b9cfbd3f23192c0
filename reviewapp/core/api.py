"""What every API endpoint shares: one error shape and the mapping of service errors to statuses.

Errors are ``{"detail": "...", "errors": {"field": ["message", ...]}}``; ``errors`` is present
when the problem belongs to particular fields.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.views import SpectacularAPIView
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


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this server accepts."
    default_code = "payload_too_large"


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
    for error_type, status_code in SERVICE_ERRORS.items():
        if isinstance(exc, error_type):
            body: dict = {"detail": str(exc)}
            errors = getattr(exc, "errors", None)
            if errors:
                body["errors"] = errors
            headers = None
            if isinstance(exc, QuotaExceeded):
                headers = {"Retry-After": str(exc.retry_after_seconds)}
            return Response(body, status=status_code, headers=headers)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "The request is not valid.", "errors": flat_errors(exc.detail)}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


class ApiSchemaView(SpectacularAPIView):
    """The OpenAPI schema: for signed-in people (session or token) unless
    ``REVIEWAPP_PUBLIC_API_SCHEMA`` opens it to anyone."""

    def get_permissions(self):
        if settings.REVIEWAPP_PUBLIC_API_SCHEMA:
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]
