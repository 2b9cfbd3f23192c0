"""The workflows a user may see or act on (through ``reviewapp.core.permissions``)."""

from django.db.models import Q, QuerySet
from django.http import Http404

from reviewapp.core.accounts.models import Role
from reviewapp.core.permissions import (
    VIEW_WORKFLOW,
    User,
    objects_for_user,
    teams_of,
    user_can,
)
from workflows.models import ModelVersion, Workflow


def workflows_for_user(user: User, perm: str = VIEW_WORKFLOW) -> QuerySet[Workflow]:
    return objects_for_user(user, perm, Workflow)


def get_workflow_for_user(user: User, slug: str, perm: str = VIEW_WORKFLOW) -> Workflow:
    try:
        workflow = Workflow.objects.select_related("current_version").get(slug=slug)
    except Workflow.DoesNotExist:
        raise Http404("No such workflow.") from None
    if not user_can(user, perm, workflow):
        raise Http404("No such workflow.")
    return workflow


def models_for_team(team) -> QuerySet[ModelVersion]:
    """The models a team may use as a canary candidate or retraining base: its own and those an
    admin shared with it."""
    return ModelVersion.objects.filter(Q(team=team) | Q(shared_with=team)).distinct()


def models_for_user(user: User) -> QuerySet[ModelVersion]:
    """Models of the teams whose workflows ``user`` sees (their endpoints' health is theirs)."""
    teams = workflows_for_user(user).values("team_id")
    return ModelVersion.objects.filter(Q(team__in=teams) | Q(shared_with__in=teams)).distinct()


def model_keys_for_user(user: User) -> set[str]:
    """``name@version`` of the models ``user``'s workflows own, were given, or are bound to."""
    keys = {str(model) for model in models_for_user(user)}
    for workflow in workflows_for_user(user).select_related("current_version"):
        binding = (workflow.current_version.definition if workflow.current_version else {}).get(
            "model"
        ) or {}
        if binding:
            keys.add(f"{binding.get('name')}@{binding.get('version')}")
    return keys


def get_model_to_share_for_user(user: User, model_id: int) -> ModelVersion:
    """A model ``user`` may share: any for superusers, their team's for a team's admins."""
    models = ModelVersion.objects.select_related("team")
    if not (user.is_authenticated and user.is_superuser):
        models = models.filter(team__in=teams_of(user, [Role.ADMIN]))
    model = models.filter(pk=model_id).first()
    if model is None:
        raise Http404("No such model.")
    return model
