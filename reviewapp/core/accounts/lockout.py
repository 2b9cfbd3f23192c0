"""Sign-in lockout: after too many failed passwords for one account, or from one address, sign-in
is refused for a while (even with the right password), with a message saying so and an audit
event. Counts live in the cache in fixed windows of ``REVIEWAPP_SIGNIN_LOCKOUT_SECONDS``.
"""

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction

from reviewapp.core.audit.services import audit_record


def _key(kind: str, value: str) -> str:
    # Hashed: usernames and addresses are not valid cache keys as they come.
    return f"signin-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _keys(username: str, address: str) -> dict[str, str]:
    return {
        "account": _key("account", username.strip().lower()),
        "address": _key("address", address),
    }


def _limits() -> dict[str, int]:
    return {
        "account": settings.REVIEWAPP_SIGNIN_MAX_FAILURES,
        "address": settings.REVIEWAPP_SIGNIN_MAX_FAILURES_PER_ADDRESS,
    }


def signin_locked(*, username: str, address: str) -> str | None:
    """What is locked ("account" or "address"), or None when sign-in may be tried."""
    keys, limits = _keys(username, address), _limits()
    counts = cache.get_many(list(keys.values()))
    for kind, key in keys.items():
        if counts.get(key, 0) >= limits[kind]:
            return kind
    return None


def signin_failure_record(*, username: str, address: str) -> None:
    """Count one failed password; the attempt that reaches a limit is audited."""
    keys, limits = _keys(username, address), _limits()
    for kind, key in keys.items():
        cache.add(key, 0, timeout=settings.REVIEWAPP_SIGNIN_LOCKOUT_SECONDS)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.REVIEWAPP_SIGNIN_LOCKOUT_SECONDS)
            count = 1
        if count == limits[kind]:
            _audit_lockout(kind=kind, username=username, address=address)


def signin_success_record(*, username: str) -> None:
    cache.delete(_key("account", username.strip().lower()))


def _audit_lockout(*, kind: str, username: str, address: str) -> None:
    User = get_user_model()
    # Guessing at a name that has no account is recorded too (against an unsaved user).
    account = User.objects.filter(username=username).first() or User(username=username[:150])
    with transaction.atomic():
        audit_record(
            action="signin.locked_out",
            obj=account,
            data={
                "locked": kind,
                "username": username[:150],
                "address": address,
                "seconds": settings.REVIEWAPP_SIGNIN_LOCKOUT_SECONDS,
            },
        )
