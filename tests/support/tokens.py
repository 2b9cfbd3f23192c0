"""API tokens for tests and benchmarks, made the way people make them (only a hash is kept)."""

from reviewapp.core.accounts.models import TokenScope
from reviewapp.core.accounts.tokens import api_token_create


def token_for(user, *, scopes: tuple[str, ...] = tuple(TokenScope.values), name="tests") -> str:
    """A new token of ``user`` with ``scopes`` (all by default); the token itself."""
    _, raw = api_token_create(user=user, name=name, scopes=list(scopes))
    return raw
