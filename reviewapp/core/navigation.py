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
    icon: str = ""  # the path data of its 24x24 line icon (see ICONS)
    # aria-current: "page" on the link's own page, "true" on a page inside its section.
    current: str = ""


# Hand-drawn 24x24 line icons, drawn with a round 2-unit stroke (static/css/app.css: .icon) like
# the logo's check mark; each is one SVG path's data, rendered inline beside the label.
ICONS = {
    "my-work": "M9 3h6v3H9z M7 4.5H5V21h14V4.5h-2 M8.5 13.5l2.5 2.5 4.5-4.5",
    "queues": "M3 7.5l9-4.5 9 4.5-9 4.5z M3 12l9 4.5 9-4.5 M3 16.5l9 4.5 9-4.5",
    "board": "M3 20.5h18 M6 17v-5 M11 17V6 M16 17V9.5",
    "datasets": (
        "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3z M4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6 "
        "M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3"
    ),
    "pipeline": "M2.5 12h4l3-7 5 14 3-7h4",
    "audit": "M12 3l8 3v6c0 4.5-3.4 8-8 9-4.6-1-8-4.5-8-9V6z M8.8 12l2.2 2.2 4.2-4.2",
    "tokens": "M8 11a4.5 4.5 0 1 0 0 9 4.5 4.5 0 0 0 0-9z M11.2 12.8L20 4 M15.5 8.5l3 3 M18 6l2 2",
    "notifications": "M6 16.5V11a6 6 0 0 1 12 0v5.5l2 2H4z M10 21.5h4",
}

# Each link: the flag that shows it, its label, its route, the other paths of its section (a
# review page belongs to Queues, an item or a workflow's pages to Pipeline) and its icon.
NAV_LINKS = (
    ("queues", "My work", "my-work", (), "my-work"),
    ("queues", "Queues", "queue-list", ("/review/",), "queues"),
    ("board", "Board", "board", (), "board"),
    ("datasets", "Datasets", "dataset-list", (), "datasets"),
    ("pipeline", "Pipeline", "dead-letter-list", ("/items/", "/workflows/"), "pipeline"),
    ("pipeline", "Audit", "audit-list", (), "audit"),
    ("", "API tokens", "token-list", (), "tokens"),
)


def nav_links(nav: Navigation, path: str) -> list[NavLink]:
    """The top bar's links for ``nav``, the one for ``path`` marked current."""
    links = []
    for flag, label, route, section, icon in NAV_LINKS:
        if flag and not getattr(nav, flag):
            continue
        url = reverse(route)
        if path == url:
            current = "page"
        elif path.startswith((url, *section)):
            current = "true"
        else:
            current = ""
        links.append(NavLink(label=label, url=url, current=current, icon=ICONS[icon]))
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
    return {"nav": nav, "nav_links": links, "bell_icon": ICONS["notifications"]}


def home(request: HttpRequest) -> HttpResponse:
    """``/`` and the page after signing in: each role's own starting page."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return redirect(navigation_for(request.user).landing)
