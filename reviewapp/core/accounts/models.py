from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models

from reviewapp.core.accounts.roles import Role


class Team(models.Model):
    """A group of people who own workflows and queues.

    Each (team, role) pair is one auth Group; object permissions are granted to those groups,
    so a membership change is a group change and guardian does the rest.
    """

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)

    def __str__(self) -> str:
        return self.name

    def group_name(self, role: str) -> str:
        return f"team:{self.slug}:{role}"


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user", "role"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} in {self.team}"


class ReviewerProfile(models.Model):
    """What a reviewer can take on: skills, languages and how many claims at once.

    Written only by ``reviewer_profile_set``. The claim reads it under ``FOR UPDATE``: that row
    lock is what serialises one reviewer's concurrent claims, so a capacity cap holds.
    A reviewer without a profile has no skills, no languages and no personal cap.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer_profile"
    )
    # Lower-case tags, e.g. ["billing", "legal"]; a queue's required skills must all be here.
    skills = models.JSONField(default=list, blank=True)
    # Lower-case language codes, e.g. ["en", "de"]; tasks in other languages never reach them.
    languages = models.JSONField(default=list, blank=True)
    # Most tasks held at once over all queues; empty: no personal cap.
    max_claims = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class Preferences(models.Model):
    """How pages are shown to one person. Written only by ``preferences_set``.

    Signing in copies them into the session, so pages read them without a query."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    # An IANA zone name, e.g. "Europe/Berlin"; empty: the zone the browser reports.
    time_zone = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class TokenScope(models.TextChoices):
    INGEST = "ingest", "Submit items"
    READ = "read", "Read items, queues and exports"
    MANAGE = "manage", "Change settings and act on work"


class ApiToken(models.Model):
    """A credential for the API. Only a SHA-256 of the token is stored: whoever reads the
    database cannot call the API. The token itself is shown once, when it is created.

    Written only by ``api_token_create`` and ``api_token_revoke``.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    # The token has 256 random bits, so a plain SHA-256 (no salt, no stretching) is enough and
    # lets authentication find the row by an indexed equality.
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters, for people to tell their tokens apart.
    prefix = models.CharField(max_length=12)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user_id}"

    def is_live(self, now) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class SsoIdentity(models.Model):
    """A person's account at the identity provider, linked to their account here.

    Found by the provider's (issuer, subject) pair, never by name or e-mail address: an account
    at the provider can only ever sign in as the account it was first linked to, so nobody
    takes over a local account by choosing its name there. Written only by ``sso_user_sign_in``.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    last_signed_in_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
