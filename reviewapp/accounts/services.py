from django.contrib.auth import get_user_model
from django.db import transaction

from reviewapp.accounts.models import Membership, Team
from reviewapp.audit.services import audit_record
from reviewapp.permissions import team_role_group

User = get_user_model()


@transaction.atomic
def team_create(*, slug: str, name: str, acting_user=None) -> Team:
    team = Team.objects.create(slug=slug, name=name)
    audit_record(action="team.created", obj=team, actor=acting_user, data={"slug": slug})
    return team


@transaction.atomic
def membership_add(*, team: Team, user, role: str, acting_user=None) -> Membership:
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
            data={"team": team.slug, "user": user.get_username(), "role": role},
        )
    return membership
