"""API tokens: create (shown once), revoke, and find the live token a request presents."""

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Model
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
    token = _unrevoked_token(token_hash(raw))
    if token is None or not token.is_live(now):
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _unrevoked_token(key_hash: str) -> ApiToken | None:
    """The unrevoked token of an active person with this hash, the person read with it.

    Every API call starts here: on PostgreSQL one statement of plain SQL, as building the
    queryset cost more CPU than the database spent on it."""
    if connection.vendor != "postgresql":
        return (
            ApiToken.objects.select_related("user")
            .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
            .first()
        )
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(ApiToken._meta.concrete_fields)
    token = cast(ApiToken, _instance(ApiToken, row[:width]))
    token.user = cast(Any, _instance(get_user_model(), row[width:]))
    return token


@cache
def _token_sql() -> str:
    quote, user = connection.ops.quote_name, get_user_model()._meta
    columns = [f"t.{quote(str(field.column))}" for field in ApiToken._meta.concrete_fields]
    columns += [f"u.{quote(str(field.column))}" for field in user.concrete_fields]
    # key_hash is unique: its index finds the row.
    return (
        f"SELECT {', '.join(columns)} FROM {quote(ApiToken._meta.db_table)} t "  # noqa: S608
        f"JOIN {quote(user.db_table)} u ON u.{quote(str(user.pk.column))} = t.user_id "
        "WHERE t.key_hash = %s AND t.revoked_at IS NULL AND u.is_active"
    )


def _instance(model, values) -> Model:
    """The object of one row of ``model``'s columns, each value converted as the ORM does
    (JSON comes as text on PostgreSQL)."""
    fields = model._meta.concrete_fields
    converted = [
        value
        if value is None or not hasattr(field, "from_db_value")
        else field.from_db_value(value, None, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)
