"""``manage.py team_member add|remove|list``: team roles from a shell, audited as "command"."""

from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.accounts.models import Role, Team
from reviewapp.core.accounts.services import team_member_add, team_member_remove, team_members
from reviewapp.core.errors import InvalidRequest

ACTOR = "command"


class Command(BaseCommand):
    help = (
        "Give (add), take (remove) or show (list) people's roles in a team. "
        f"Roles: {', '.join(Role.values)}. Changes are audited with the actor 'command'."
    )

    def add_arguments(self, parser):
        parser.add_argument("operation", choices=["add", "remove", "list"])
        parser.add_argument("--team", required=True, help="the team's slug")
        parser.add_argument("--user", help="the person's user name (add, remove)")
        parser.add_argument("--role", choices=Role.values, help="the role (add, remove)")
        parser.add_argument("--reason", default="", help="why a role is taken away (remove)")

    def handle(self, *args, operation, team, user, role, reason, **options):
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"No team has the slug “{team}”.")
        if operation == "list":
            for membership in team_members(found):
                self.stdout.write(f"{membership.user.get_username()}\t{membership.role}")
            return
        if not user or not role:
            raise CommandError(f"{operation} needs --user and --role.")
        try:
            if operation == "add":
                team_member_add(team=found, username=user, role=role, actor_label=ACTOR)
                self.stdout.write(f"{user} is now {role} in {found.slug}.")
            else:
                team_member_remove(
                    team=found, username=user, role=role, actor_label=ACTOR, reason=reason
                )
                self.stdout.write(f"{user} is no longer {role} in {found.slug}.")
        except InvalidRequest as refused:
            raise CommandError(
                " ".join(message for messages in refused.errors.values() for message in messages)
            ) from None
