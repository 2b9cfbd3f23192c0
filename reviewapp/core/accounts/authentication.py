"""The API's token authentication and scope check (DRF classes named in settings)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from reviewapp.core.accounts.models import ApiToken, TokenScope
from reviewapp.core.accounts.tokens import api_token_authenticate

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <token>`` or ``Authorization: Bearer <token>``."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = api_token_authenticate(raw)
        if token is None:
            # One answer for unknown, revoked and expired tokens.
            raise exceptions.AuthenticationFailed("The token is not valid, revoked or expired.")
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def required_scope(request, view) -> str:
    """What a token needs for this request: a view's ``token_scopes`` by method, else read for
    reading and manage for anything that changes state."""
    declared = getattr(view, "token_scopes", {})
    if request.method in declared:
        return declared[request.method]
    return TokenScope.READ if request.method in SAFE_METHODS else TokenScope.MANAGE


class TokenScopePermission(permissions.BasePermission):
    """Requests made with a token are limited to its scopes; sessions are not concerned."""

    message = "This token's scopes do not allow this request."

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiToken):
            return True
        scope = required_scope(request, view)
        if scope in request.auth.scopes:
            return True
        self.message = f"This token lacks the {scope!r} scope."
        return False


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token: an HTTP bearer token."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer <token> (or Token <token>)",
        }
