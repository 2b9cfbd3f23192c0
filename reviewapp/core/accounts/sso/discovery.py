"""The identity provider's endpoints and keys address, read from its discovery document
(``<OIDC_ISSUER>/.well-known/openid-configuration``) when first needed and kept for an hour.

Read at sign-in, never at start-up: a provider that is down must not stop the site, and password
sign-in of break-glass administrators must keep working while it is.
"""

import threading
import time

import httpx
from django.conf import settings

KEPT_SECONDS = 3600
TIMEOUT_SECONDS = 10
REQUIRED = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")

_lock = threading.Lock()
_documents: dict[str, tuple[float, dict]] = {}


class ProviderUnavailable(Exception):
    """The identity provider's discovery document could not be read or is not usable."""


def provider_metadata() -> dict:
    issuer = settings.SSO_ISSUER
    now = time.monotonic()
    with _lock:
        kept = _documents.get(issuer)
        if kept is not None and now - kept[0] < KEPT_SECONDS:
            return kept[1]
    document = _fetch(issuer)
    with _lock:
        _documents[issuer] = (now, document)
    return document


def provider_metadata_forget() -> None:
    """Read the document again at the next sign-in (a rotated provider, a test's new one)."""
    with _lock:
        _documents.clear()


def _fetch(issuer: str) -> dict:
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=TIMEOUT_SECONDS, follow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"{url}: {exc}") from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} is not a discovery document.")
    # OpenID Connect Discovery 1.0, section 4.3: the issuer must be exactly the one configured.
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(
            f"{url} names the issuer {str(document.get('issuer'))[:200]!r}, not {issuer!r}."
        )
    missing = [name for name in REQUIRED if not isinstance(document.get(name), str)]
    if missing:
        raise ProviderUnavailable(f"{url} lacks {', '.join(missing)}.")
    return document
