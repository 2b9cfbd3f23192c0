"""Signing in through the identity provider: the account linked to the provider's subject (made
at the first sign-in), and the teams, roles and skills the claims give, synced every time."""

import hashlib
import logging
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone

from reviewapp.core.accounts.hooks import access_lost
from reviewapp.core.accounts.models import Membership, ReviewerProfile, SsoIdentity, Team
from reviewapp.core.accounts.services import membership_add, membership_remove
from reviewapp.core.accounts.sso.mapping import Access, GroupMap, access_from_claims
from reviewapp.core.audit.services import audit_record

logger = logging.getLogger(__name__)

NOT_USERNAME = re.compile(r"[^\w.@+-]")
REMOVED_REASON = "no longer granted by the identity provider"


@transaction.atomic(durable=True)
def sso_user_sign_in(*, issuer: str, claims: dict):
    """The account the provider's subject signs in as, its access synced from ``claims``.

    Refuses (``SuspiciousOperation``) claims without a subject. The first sign-in of a subject
    makes a new account (no password: it signs in only through the provider).
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SuspiciousOperation("The provider sent no usable subject.")
    now = timezone.now()
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    email = claims["email"] if isinstance(claims.get("email"), str) else ""
    if identity is None:
        user = get_user_model().objects.create_user(
            username=_free_username(claims, issuer, subject), email=email[:254]
        )
        identity = SsoIdentity.objects.create(
            user=user, issuer=issuer, subject=subject, created_at=now, last_signed_in_at=now
        )
        audit_record(
            action="sso.account_created",
            obj=user,
            data={"user": user.get_username(), "issuer": issuer, "subject": subject},
        )
    else:
        user = identity.user
        identity.last_signed_in_at = now
        identity.save(update_fields=["last_signed_in_at"])
        if email and user.email != email[:254]:
            user.email = email[:254]
            user.save(update_fields=["email"])
    sso_access_sync(
        user=user,
        access=access_from_claims(
            claims, group_map=settings.SSO_GROUP_MAP, claim=settings.SSO_GROUPS_CLAIM
        ),
        group_map=settings.SSO_GROUP_MAP,
    )
    return user


def sso_access_sync(*, user, access: Access, group_map: GroupMap) -> None:
    """Make the person's memberships and skills that the map manages exactly ``access``.

    Grants and removals are audited (``membership.added``, ``membership.removed``,
    ``reviewer_profile.changed``); after a removal, the stages hand back work the person may no
    longer do (the review stage releases their claims), all in the caller's transaction.
    """
    managed = group_map.managed
    held = {
        (membership.team.slug, membership.role): membership
        for membership in Membership.objects.filter(user=user)
        .select_related("team", "group")
        .select_for_update(of=("self",))
    }
    lost = False
    for pair, membership in sorted(held.items()):
        if pair in managed.memberships and pair not in access.memberships:
            membership.user = user
            membership_remove(membership=membership, reason=REMOVED_REASON)
            lost = True
    wanted = sorted(access.memberships - set(held))
    teams = Team.objects.in_bulk([slug for slug, _ in wanted], field_name="slug")
    for slug, role in wanted:
        if slug not in teams:
            logger.warning("SSO_GROUP_MAP names the team %r, which does not exist here.", slug)
            continue
        membership_add(team=teams[slug], user=user, role=role)
    lost = _skills_sync(user=user, access=access, managed=managed) or lost
    if lost:
        access_lost(user=user, acting_user=None, reason=REMOVED_REASON)


def _skills_sync(*, user, access: Access, managed: Access) -> bool:
    """Set the managed skills; True when one was taken away."""
    if not managed.skills:
        return False
    profile, _ = ReviewerProfile.objects.select_for_update().get_or_create(user=user)
    before = sorted(profile.skills)
    after = sorted((set(before) - managed.skills) | access.skills)
    if after == before:
        return False
    profile.skills = after
    profile.save()
    audit_record(
        action="reviewer_profile.changed",
        obj=profile,
        data={
            "user": user.get_username(),
            "before": {"skills": before},
            "after": {"skills": after},
            "source": "identity provider",
        },
    )
    return bool(set(before) - set(after))


def _free_username(claims: dict, issuer: str, subject: str) -> str:
    """The provider's user name (or the e-mail's local part) if nobody here has it yet, else
    the same with a suffix from the subject: a local account is never taken over by name."""
    User = get_user_model()
    wanted = claims.get(settings.SSO_USERNAME_CLAIM)
    if not isinstance(wanted, str) or not wanted.strip():
        email = claims.get("email")
        wanted = email.split("@")[0] if isinstance(email, str) else ""
    base = NOT_USERNAME.sub("-", wanted.strip())[:120] or "sso-user"
    suffix = hashlib.sha256(f"{issuer} {subject}".encode()).hexdigest()
    for candidate in (base, f"{base}-{suffix[:8]}", f"{base}-{suffix[:16]}", f"sso-{suffix[:32]}"):
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    raise SuspiciousOperation("No free user name for this subject.")
