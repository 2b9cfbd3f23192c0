"""Team membership pages: a team's managers and admins give, change and take roles."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from reviewapp.core.accounts.models import Membership, Role, Team
from reviewapp.core.accounts.services import (
    TEAM_KEEPERS,
    may_manage_members,
    team_member_add,
    team_member_remove,
    team_member_role_change,
    team_members,
)
from reviewapp.core.errors import InvalidRequest
from reviewapp.core.http import HtmxHttpRequest


def _team_to_manage(request: HtmxHttpRequest, slug: str) -> Team:
    # Not found, rather than refused: people who may not manage a team do not learn it exists.
    team = Team.objects.filter(slug=slug).first()
    if team is None or not may_manage_members(request.user, team):
        raise Http404("No such team.")
    return team


@require_GET
@login_required
def team_list(request: HtmxHttpRequest) -> HttpResponse:
    if request.user.is_superuser:
        teams = Team.objects.order_by("slug")
    else:
        keeps = Membership.objects.filter(user_id=request.user.pk or 0, role__in=TEAM_KEEPERS)
        teams = Team.objects.filter(pk__in=keeps.values("team_id")).order_by("slug")
    return render(request, "accounts/teams.html", {"teams": teams})


_SUCCESS = {
    "add": "{user} is now {role} in {team}.",
    "change": "{user} is now {new_role} in {team} (was {role}).",
    "remove": "{user} is no longer {role} in {team}.",
}


@require_http_methods(["GET", "POST"])
@login_required
def team_members_page(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team_to_manage(request, team_slug)
    errors: dict[str, list[str]] = {}
    posted: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        operation = request.POST.get("operation", "")
        posted = {
            name: request.POST.get(name, "")[:150]
            for name in ("user", "role", "new_role", "reason")
        }
        try:
            if operation == "add":
                team_member_add(
                    team=team,
                    username=posted["user"],
                    role=posted["role"],
                    acting_user=request.user,
                )
            elif operation == "change":
                team_member_role_change(
                    team=team,
                    username=posted["user"],
                    role=posted["role"],
                    new_role=posted["new_role"],
                    acting_user=request.user,
                )
            elif operation == "remove":
                team_member_remove(
                    team=team,
                    username=posted["user"],
                    role=posted["role"],
                    acting_user=request.user,
                    reason=posted["reason"],
                )
            else:
                raise InvalidRequest({"operation": ["Choose add, change or remove."]})
        except InvalidRequest as refused:
            errors, status = refused.errors, 422
        else:
            messages.success(request, _SUCCESS[operation].format(team=team.slug, **posted))
            return redirect("team-members", team_slug=team.slug)
    context = {
        "team": team,
        "members": team_members(team),
        "roles": Role.choices,
        "errors": [message for messages_ in errors.values() for message in messages_],
        "posted": posted,
    }
    return render(request, "accounts/team_members.html", context, status=status)
