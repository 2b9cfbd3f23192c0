"""The two ends of a sign-in through the identity provider: the start (off to the provider)
and the callback (its answer). Both answer 404 while single sign-on is not configured."""

import logging

import httpx
import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from reviewapp.core.accounts.sso.discovery import ProviderUnavailable, provider_metadata

logger = logging.getLogger(__name__)

FAILED = (
    "Single sign-on did not complete. Try again; if it keeps failing, ask an administrator "
    "(the identity provider may be unreachable or refused the sign-in)."
)


def _sign_in_failed(request, error: object = None) -> HttpResponseRedirect:
    if error is not None:
        logger.warning("Single sign-on failed: %s", error)
    messages.error(request, FAILED)
    return HttpResponseRedirect(reverse("login"))


class SsoStartView(OIDCAuthenticationRequestView):
    def __init__(self, *args, **kwargs):
        # The parent reads the provider's endpoint here; it is read per request below instead.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        if not settings.SSO_ISSUER:
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_metadata()["authorization_endpoint"]
        except ProviderUnavailable as exc:
            return _sign_in_failed(request, exc)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    def get(self, request):
        if not settings.SSO_ISSUER:
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except (
            SuspiciousOperation,
            ProviderUnavailable,
            requests.RequestException,
            httpx.HTTPError,
            ValueError,
        ) as exc:
            return _sign_in_failed(request, exc)

    def login_failure(self):
        return _sign_in_failed(self.request, self.request.GET.get("error") or "refused")
