"""Sign-in through the identity provider (OpenID Connect's authorization code flow, with PKCE),
on mozilla-django-oidc.

Always listed in ``AUTHENTICATION_BACKENDS`` and inert unless ``OIDC_ISSUER`` is set and the
request is the provider's answer to a sign-in we started: password sign-in never reaches the
provider. Endpoints come from the provider's discovery document, read when first needed.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from reviewapp.core.accounts.sso.discovery import provider_metadata
from reviewapp.core.accounts.sso.services import sso_user_sign_in


class SsoBackend(OIDCAuthenticationBackend):
    # mozilla-django-oidc reads these upper-case attributes (set in its __init__); here they
    # are looked up when used.
    OIDC_RP_IDP_SIGN_KEY = None

    def __init__(self, *args, **kwargs):
        # The parent reads every endpoint here, and Django builds each backend for every
        # sign-in, password ones included: nothing may be fetched yet.
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return provider_metadata()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return provider_metadata()["userinfo_endpoint"]

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return provider_metadata()["jwks_uri"]

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return settings.OIDC_RP_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return settings.OIDC_RP_SIGN_ALGO

    def authenticate(self, request, **kwargs):
        # Only the callback passes a nonce: a password sign-in is not ours to answer.
        if not settings.SSO_ISSUER or "nonce" not in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """The parent checks the signature, expiry and nonce; the issuer and the audience are
        checked here, so a token the provider made for another application is refused."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if payload.get("iss") != settings.SSO_ISSUER:
            raise SuspiciousOperation("The ID token comes from another issuer.")
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token was made for another application.")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The provider's user information is for someone else.")
        return sso_user_sign_in(issuer=settings.SSO_ISSUER, claims={**payload, **userinfo})

    def get_user(self, user_id):
        # Django's rule (inactive people are signed out), not the parent's.
        return ModelBackend.get_user(self, user_id)

    # Permissions are the other backends' business (groups, guardian).
    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False

    def has_module_perms(self, user_obj, app_label):
        return False

    def with_perm(self, perm, is_active=True, include_superusers=True, obj=None):
        return self.UserModel.objects.none()
