"""Team roles given and taken in the app (managers and admins of the team) and by command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from reviewapp.core.accounts.models import Membership, Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _events(action: str, username: str):
    return AuditEvent.objects.filter(action=action, data__user=username)


def test_the_command_adds_lists_and_removes_audited_as_command(demo, django_user_model):
    django_user_model.objects.create_user(username="newbie")
    out = StringIO()
    call_command("team_member", "add", team="support", user="newbie", role="reviewer", stdout=out)
    assert "newbie is now reviewer in support." in out.getvalue()
    assert Membership.objects.filter(team=demo.team, user__username="newbie").exists()
    (added,) = _events("membership.added", "newbie")
    assert added.actor_id is None and added.actor_label == "command"

    listed = StringIO()
    call_command("team_member", "list", team="support", stdout=listed)
    assert "newbie\treviewer" in listed.getvalue().splitlines()

    call_command("team_member", "remove", team="support", user="newbie", role="reviewer")
    assert not Membership.objects.filter(team=demo.team, user__username="newbie").exists()
    (removed,) = _events("membership.removed", "newbie")
    assert removed.actor_label == "command"

    with pytest.raises(CommandError, match="No active user is called “ghost”"):
        call_command("team_member", "add", team="support", user="ghost", role="reviewer")
    with pytest.raises(CommandError, match="No team has the slug"):
        call_command("team_member", "list", team="nope")
    with pytest.raises(CommandError, match="is not reviewer in support"):
        call_command("team_member", "remove", team="support", user="newbie", role="reviewer")


def test_a_manager_adds_changes_and_removes_roles(demo, manager, django_user_model):
    django_user_model.objects.create_user(username="newbie")
    client = _client(manager)
    url = reverse("team-members", kwargs={"team_slug": "support"})
    assert client.get(url).status_code == 200

    added = client.post(url, {"operation": "add", "user": "newbie", "role": "reviewer"})
    assert added.status_code == 302
    assert "newbie is now reviewer in support." in client.get(url).content.decode()
    assert _events("membership.added", "newbie").get().actor == manager

    again = client.post(
        url, {"operation": "add", "user": "newbie", "role": "reviewer"}, HTTP_HX_REQUEST="true"
    )
    assert again.status_code == 422
    assert "newbie is reviewer in support already." in again.content.decode()
    unknown = client.post(url, {"operation": "add", "user": "ghost", "role": "boss"})
    assert unknown.status_code == 422 and "No active user is called" in unknown.content.decode()

    changed = client.post(
        url, {"operation": "change", "user": "newbie", "role": "reviewer", "new_role": "manager"}
    )
    assert changed.status_code == 302
    roles = set(Membership.objects.filter(user__username="newbie").values_list("role", flat=True))
    assert roles == {Role.MANAGER}

    removed = client.post(url, {"operation": "remove", "user": "newbie", "role": "manager"})
    assert removed.status_code == 302
    assert not Membership.objects.filter(user__username="newbie").exists()
    assert _events("membership.removed", "newbie").count() == 2


def test_reviewers_and_other_teams_managers_get_not_found(
    demo, reviewer, other_team, django_user_model
):
    boss = django_user_model.objects.create_user(username="claims-boss")
    membership_add(team=other_team["team"], user=boss, role=Role.MANAGER)
    url = reverse("team-members", kwargs={"team_slug": "support"})
    for person in (reviewer, boss):
        client = _client(person)
        assert client.get(url).status_code == 404
        answer = client.post(url, {"operation": "add", "user": person.username, "role": "admin"})
        assert answer.status_code == 404
        assert "support" not in client.get(reverse("team-list")).content.decode()
    assert not Membership.objects.filter(user=boss, team=demo.team).exists()
    assert not Membership.objects.filter(user=reviewer, role=Role.ADMIN).exists()
