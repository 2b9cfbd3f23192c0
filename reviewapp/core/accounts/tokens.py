"""API tokens: create (shown once), revoke, and find the live token a request presents."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from reviewapp.core.accounts.models import ApiToken, TokenScope
from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import InvalidRequest

TOKEN_PREFIX = "rvw_"  # noqa: S105 (a marker that makes leaked tokens easy to find, not a secret)
# last_used_at is written at most this often per token: not one UPDATE per API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic(durable=True)
def api_token_create(
    *,
    user,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    acting_user=None,
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token, which is never stored."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 80:
        errors["name"] = ["Give the token a name of 1 to 80 characters."]
    wanted = list(dict.fromkeys(scopes or []))
    if not wanted or any(scope not in TokenScope.values for scope in wanted):
        errors["scopes"] = [f"Choose one or more of: {', '.join(TokenScope.values)}."]
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise InvalidRequest(errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=token_hash(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 4],
        scopes=wanted,
        created_at=now,
        expires_at=expires_at,
    )
    audit_record(
        action="api_token.created",
        obj=token,
        actor=acting_user or user,
        data={
            "user": user.get_username(),
            "name": name,
            "scopes": wanted,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, raw


@transaction.atomic(durable=True)
def api_token_revoke(*, token: ApiToken, acting_user) -> ApiToken:
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    if revoked:
        audit_record(
            action="api_token.revoked",
            obj=token,
            actor=acting_user,
            data={"user": token.user.get_username(), "name": token.name},
        )
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The live token ``raw`` stands for, or None (unknown, revoked, expired, inactive user)."""
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None or not token.is_live(now):
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
