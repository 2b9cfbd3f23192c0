"""What later stages do when someone loses access, inside the transaction that takes it away.

The kernel cannot import the stages, so a stage registers a hook when Django starts (the review
stage hands back the tasks the person held in queues they may no longer review). Hooks run in
the caller's transaction and write their own audit events.
"""

from collections.abc import Callable
from typing import Any

AccessLostHook = Callable[..., Any]
_hooks: dict[str, AccessLostHook] = {}


def access_lost_register(name: str, hook: AccessLostHook) -> None:
    """``hook(*, user, acting_user, reason)``; registering a name again replaces it."""
    _hooks[name] = hook


def access_lost(*, user, acting_user, reason: str) -> None:
    for hook in _hooks.values():
        hook(user=user, acting_user=acting_user, reason=reason)
