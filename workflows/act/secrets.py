"""Which environment variables a team may name as a webhook signing secret.

A workflow definition or a queue's escalation webhook names its signing secret by environment
variable. Without a limit, a manager could sign with (and so learn, by receiving the webhook)
``SECRET_KEY``, ``DATABASE_URL`` or another team's secret; so each team may name only the
variables listed for it in ``REVIEWAPP_WEBHOOK_SECRETS``, and the project's own secrets never.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The project's own secrets: refused even when a deployment lists them for a team.
NEVER_WEBHOOK_SECRETS = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "REVIEWAPP_PSEUDONYM_KEY",
        "LABEL_STUDIO_API_KEY",
    }
)


def webhook_secrets_parse(raw: str) -> dict[str, frozenset[str]]:
    """``"support:SUPPORT_HOOK,SUPPORT_ALT;claims:CLAIMS_HOOK"`` -> allowed names per team slug."""
    allowed: dict[str, frozenset[str]] = {}
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        team, sep, names = entry.partition(":")
        listed = frozenset(filter(None, (name.strip() for name in names.split(","))))
        if not sep or not team.strip() or not listed:
            raise ImproperlyConfigured(
                f"REVIEWAPP_WEBHOOK_SECRETS: {entry!r} is not 'team-slug:NAME[,NAME...]'."
            )
        forbidden = (listed & NEVER_WEBHOOK_SECRETS) | {
            name for name in listed if name.endswith("_FILE")
        }
        if forbidden:
            raise ImproperlyConfigured(
                f"REVIEWAPP_WEBHOOK_SECRETS: {', '.join(sorted(forbidden))} "
                "may never sign webhooks."
            )
        allowed[team.strip()] = allowed.get(team.strip(), frozenset()) | listed
    return allowed


def webhook_secret_allowed(*, team_slug: str, name: str) -> bool:
    if name in NEVER_WEBHOOK_SECRETS:
        return False
    allowed: dict[str, frozenset[str]] = settings.REVIEWAPP_WEBHOOK_SECRETS
    return name in allowed.get(team_slug, frozenset())


def webhook_secret_refusal(*, team_slug: str, name: str) -> str | None:
    """Why ``name`` may not sign this team's webhooks, or None when it may."""
    if webhook_secret_allowed(team_slug=team_slug, name=name):
        return None
    return (
        f"{name} is not a signing secret of this team; an administrator lists the allowed "
        "names in REVIEWAPP_WEBHOOK_SECRETS."
    )
