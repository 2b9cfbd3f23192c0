"""API tokens in the header most HTTP clients and generated SDKs send."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>``: the same tokens as ``Authorization: Token <token>``."""

    keyword = "Bearer"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Named apart from the ``Token`` scheme, so the API docs offer both."""

    target_class = "reviewapp.core.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token, as with Token."}
