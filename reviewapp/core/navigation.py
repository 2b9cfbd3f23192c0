"""What the top bar offers and where signing in lands, by the roles a person holds.

A link is shown only to roles whose permissions fill its page (see ROLE_PERMISSIONS): a reviewer
has no workflow permission, so Board, Datasets, Pipeline and Audit would be empty for them.
One query, made only when a full page renders the bar (htmx fragments do not).
"""

from dataclasses import dataclass
from typing import cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from reviewapp.core.accounts.models import Membership, Role


@dataclass(frozen=True)
class Navigation:
    queues: bool = False  # My work and Queues: people who review
    board: bool = False  # people who manage queues
    datasets: bool = False  # people who request or approve exports
    pipeline: bool = False  # people who see workflows (Pipeline, Audit)

    @property
    def landing(self) -> str:
        """The route a person starts from: managers the board, reviewers their own work."""
        if self.board:
            return "board"
        if self.queues:
            return "my-work"
        if self.datasets:
            return "dataset-list"
        if self.pipeline:
            return "dead-letter-list"
        return "my-work"


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    # aria-current: "page" on the link's own page, "true" on a page inside its section.
    current: str = ""


# Each link: the flag that shows it, its label, its route, and the other paths of its section
# (a review page belongs to Queues, an item or a workflow's pages to Pipeline).
NAV_LINKS = (
    ("queues", "My work", "my-work", ()),
    ("queues", "Queues", "queue-list", ("/review/",)),
    ("board", "Board", "board", ()),
    ("datasets", "Datasets", "dataset-list", ()),
    ("pipeline", "Pipeline", "dead-letter-list", ("/items/", "/workflows/")),
    ("pipeline", "Audit", "audit-list", ()),
    ("", "API tokens", "token-list", ()),
)


def nav_links(nav: Navigation, path: str) -> list[NavLink]:
    """The top bar's links for ``nav``, the one for ``path`` marked current."""
    links = []
    for flag, label, route, section in NAV_LINKS:
        if flag and not getattr(nav, flag):
            continue
        url = reverse(route)
        if path == url:
            current = "page"
        elif path.startswith((url, *section)):
            current = "true"
        else:
            current = ""
        links.append(NavLink(label=label, url=url, current=current))
    return links


def navigation_for(user) -> Navigation:
    if not user.is_authenticated:
        return Navigation()
    if user.is_superuser:
        return Navigation(queues=True, board=True, datasets=True, pipeline=True)
    roles = set(Membership.objects.filter(user_id=user.pk).values_list("role", flat=True))
    return Navigation(
        queues=bool(roles & {Role.REVIEWER, Role.MANAGER, Role.ADMIN}),
        board=bool(roles & {Role.MANAGER, Role.ADMIN}),
        datasets=bool(roles & {Role.ML_ENGINEER, Role.ADMIN}),
        pipeline=bool(roles & {Role.MANAGER, Role.ML_ENGINEER, Role.INTEGRATOR, Role.ADMIN}),
    )


def navigation(request: HttpRequest) -> dict:
    """Context processor: ``nav`` and ``nav_links`` for base.html, read lazily."""
    nav = SimpleLazyObject(lambda: navigation_for(request.user))
    # Both read the one lazy Navigation: a page makes at most one query for the top bar.
    links = SimpleLazyObject(lambda: nav_links(cast(Navigation, nav), request.path))
    return {"nav": nav, "nav_links": links}


def home(request: HttpRequest) -> HttpResponse:
    """``/`` and the page after signing in: each role's own starting page."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return redirect(navigation_for(request.user).landing)
