"""What the top bar offers and where signing in lands, by the roles a person holds.

A link is shown only to roles whose permissions fill its page (see ROLE_PERMISSIONS): a reviewer
has no workflow permission, so Board, Datasets, Pipeline and Audit would be empty for them.
One query, made only when a full page renders the bar (htmx fragments do not).
"""

from dataclasses import dataclass

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
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
    """Context processor: ``nav`` for base.html, read lazily."""
    return {"nav": SimpleLazyObject(lambda: navigation_for(request.user))}


def home(request: HttpRequest) -> HttpResponse:
    """``/`` and the page after signing in: each role's own starting page."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return redirect(navigation_for(request.user).landing)
