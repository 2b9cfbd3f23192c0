from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from reviewapp.core.accounts.hooks import access_lost
from reviewapp.core.accounts.inputs import ReviewerProfileInput
from reviewapp.core.accounts.models import Membership, Preferences, ReviewerProfile, Team
from reviewapp.core.accounts.roles import Role
from reviewapp.core.accounts.time_zones import zone_or_none
from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import InvalidRequest
from reviewapp.core.permissions import may_edit_reviewer, team_role_group

User = get_user_model()
# "Leave as it is", where None means "no cap".
UNCHANGED = object()


@transaction.atomic
def team_create(*, slug: str, name: str, acting_user=None) -> Team:
    team = Team.objects.create(slug=slug, name=name)
    audit_record(action="team.created", obj=team, actor=acting_user, data={"slug": slug})
    return team


@transaction.atomic
def membership_add(
    *, team: Team, user, role: str, acting_user=None, actor_label: str = ""
) -> Membership:
    """Give ``user`` a role in ``team``: they join the (team, role) group that holds the perms."""
    group = team_role_group(team, role)
    membership, created = Membership.objects.get_or_create(
        team=team, user=user, role=role, defaults={"group": group}
    )
    if created:
        user.groups.add(group)
        audit_record(
            action="membership.added",
            obj=membership,
            actor=acting_user,
            actor_label=actor_label,
            data={"team": team.slug, "user": user.get_username(), "role": role},
        )
    return membership


@transaction.atomic
def membership_remove(
    *, membership: Membership, acting_user=None, reason: str = "", actor_label: str = ""
) -> None:
    """Take a role away: the person leaves the (team, role) group that holds its permissions.

    Work they hold where they may no longer act is handed back by the caller, through
    ``hooks.access_lost``, once every change of the sign-in is made."""
    user, team, role = membership.user, membership.team, membership.role
    user.groups.remove(membership.group)
    audit_record(
        action="membership.removed",
        obj=membership,
        actor=acting_user,
        actor_label=actor_label,
        data={"team": team.slug, "user": user.get_username(), "role": role, "reason": reason},
    )
    membership.delete()


# Who may give and take roles in a team (besides superusers).
TEAM_KEEPERS = (Role.MANAGER, Role.ADMIN)


def may_manage_members(user, team: Team) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    return bool(
        user.is_superuser
        or Membership.objects.filter(user_id=user.pk, team=team, role__in=TEAM_KEEPERS).exists()
    )


def team_members(team: Team) -> list[Membership]:
    return list(
        Membership.objects.filter(team=team)
        .select_related("user")
        .order_by("user__username", "role")
    )


def _member_refused(field: str, message: str) -> InvalidRequest:
    return InvalidRequest({field: [message]})


def member_user(username: str):
    user = User.objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise _member_refused("user", f"No active user is called “{username.strip()}”.")
    return user


def member_role(role: str) -> str:
    if role not in Role.values:
        raise _member_refused("role", "Choose one of: " + ", ".join(Role.values) + ".")
    return role


@transaction.atomic
def team_member_add(*, team: Team, username: str, role: str, acting_user=None, actor_label=""):
    """Give an existing person a role in ``team``; refused when they hold it already."""
    user, role = member_user(username), member_role(role)
    if Membership.objects.filter(team=team, user=user, role=role).exists():
        raise _member_refused("role", f"{user.get_username()} is {role} in {team.slug} already.")
    return membership_add(
        team=team, user=user, role=role, acting_user=acting_user, actor_label=actor_label
    )


@transaction.atomic
def team_member_remove(
    *, team: Team, username: str, role: str, acting_user=None, actor_label="", reason=""
) -> None:
    """Take a role away; work the person may no longer do is handed back."""
    user, role = member_user(username), member_role(role)
    membership = Membership.objects.filter(team=team, user=user, role=role).first()
    if membership is None:
        raise _member_refused("role", f"{user.get_username()} is not {role} in {team.slug}.")
    membership_remove(
        membership=membership, acting_user=acting_user, reason=reason, actor_label=actor_label
    )
    access_lost(user=user, acting_user=acting_user, reason=reason or "role removed")


@transaction.atomic
def team_member_role_change(
    *, team: Team, username: str, role: str, new_role: str, acting_user=None
) -> Membership:
    """One role for another, in one transaction (two audit events: removed, added)."""
    if member_role(new_role) == role:
        raise _member_refused("new_role", "Choose a different role.")
    added = team_member_add(team=team, username=username, role=new_role, acting_user=acting_user)
    team_member_remove(
        team=team, username=username, role=role, acting_user=acting_user, reason="role changed"
    )
    return added


@transaction.atomic(durable=True)
def reviewer_profile_set(
    *,
    user,
    acting_user,
    skills: list[str] | None = None,
    languages: list[str] | None = None,
    max_claims: int | object | None = UNCHANGED,
) -> ReviewerProfile:
    """Set what a reviewer can take on; arguments left out keep their value.

    Only a manager of a team the person reviews for (or a superuser) may change it.
    """
    if not may_edit_reviewer(acting_user, user):
        raise PermissionDenied("You do not manage a team this person reviews for.")
    given = {"skills": skills, "languages": languages, "max_claims": max_claims}
    changes = ReviewerProfileInput.checked(
        {
            name: value
            for name, value in given.items()
            if value is not UNCHANGED and (value is not None or name == "max_claims")
        },
        partial=True,
    )
    profile, _ = ReviewerProfile.objects.select_for_update().get_or_create(user=user)
    before = {name: getattr(profile, name) for name in changes}
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.save()
    audit_record(
        action="reviewer_profile.changed",
        obj=profile,
        actor=acting_user,
        data={"user": user.get_username(), "before": before, "after": changes},
    )
    return profile


@transaction.atomic(durable=True)
def preferences_set(*, user, time_zone: str) -> Preferences:
    """Save how pages are shown to ``user``; an empty zone means "the browser's".

    A person's own display choice changes nothing anyone else sees, so it leaves no audit row."""
    time_zone = time_zone.strip()
    if time_zone and zone_or_none(time_zone) is None:
        raise ValidationError({"time_zone": [f"“{time_zone[:64]}” is not a known time zone."]})
    preferences, _ = Preferences.objects.select_for_update().get_or_create(user=user)
    preferences.time_zone = time_zone
    preferences.save()
    return preferences


def preferences_for(user) -> Preferences:
    """Unsaved defaults for someone who never chose."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)
