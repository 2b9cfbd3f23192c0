"""Which teams, roles and reviewer skills a person's identity-provider groups give them.

``SSO_GROUP_MAP`` is JSON: each group name (a value of the claim ``SSO_GROUPS_CLAIM``) maps to
one grant or a list of grants; a grant names a team and a role, skills, or both::

    {"support-reviewers": {"team": "support", "role": "reviewer"},
     "support-leads": [{"team": "support", "role": "manager"},
                       {"team": "support", "role": "reviewer"}],
     "billing-experts": {"skills": ["billing"]}}

Sign-in through SSO owns exactly what the map names: the (team, role) pairs and the skills that
appear in it are given and taken away from the claims at every sign-in; memberships and skills
the map never names are left to administrators.
"""

import json
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from reviewapp.core.accounts.roles import Role
from reviewapp.core.accounts.validators import tags_errors


@dataclass(frozen=True)
class Access:
    """Memberships as (team slug, role) pairs, and reviewer skills."""

    memberships: frozenset[tuple[str, str]] = frozenset()
    skills: frozenset[str] = frozenset()

    def __or__(self, other: "Access") -> "Access":
        return Access(self.memberships | other.memberships, self.skills | other.skills)


@dataclass(frozen=True)
class GroupMap:
    """What each group grants."""

    grants: dict[str, Access] = field(default_factory=dict)

    @property
    def managed(self) -> Access:
        """Everything SSO gives and takes away: what any group grants."""
        return _union(self.grants.values())


def _union(accesses) -> Access:
    total = Access()
    for access in accesses:
        total = total | access
    return total


def group_map_parse(raw: str, *, name: str = "SSO_GROUP_MAP") -> GroupMap:
    if not raw.strip():
        return GroupMap()
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object of group name -> grants.")
    return GroupMap(
        grants={
            group: _union(
                _grant(name, group, entry)
                for entry in (given if isinstance(given, list) else [given])
            )
            for group, given in document.items()
        }
    )


def _grant(name: str, group: str, entry) -> Access:
    where = f"{name}[{group!r}]"
    if not isinstance(entry, dict) or not entry or set(entry) - {"team", "role", "skills"}:
        raise ImproperlyConfigured(
            f"{where}: each grant is an object with team and role, skills, or both."
        )
    memberships: frozenset[tuple[str, str]] = frozenset()
    if "team" in entry or "role" in entry:
        team, role = entry.get("team"), entry.get("role")
        if not isinstance(team, str) or not team.strip():
            raise ImproperlyConfigured(f"{where}: name the team by its slug.")
        if role not in Role.values:
            raise ImproperlyConfigured(
                f"{where}: the role must be one of {', '.join(Role.values)}."
            )
        memberships = frozenset({(team.strip(), role)})
    skills, problems = tags_errors(entry.get("skills", []), "skills")
    if problems:
        raise ImproperlyConfigured(f"{where}: {problems[0]}")
    return Access(memberships, frozenset(skills))


def access_from_claims(claims: dict, *, group_map: GroupMap, claim: str) -> Access:
    """What the groups in ``claims[claim]`` (a list of names, or one name) grant."""
    groups = claims.get(claim) or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return Access()
    return _union(
        group_map.grants[group]
        for group in groups
        if isinstance(group, str) and group in group_map.grants
    )
