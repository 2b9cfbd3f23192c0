"""The only door to django-guardian.

Roles are granted per team: each (team, role) pair is an auth Group, and this module grants those
groups object permissions on the team's workflows and queues. Views and endpoints fetch protected
objects only through the ``get_<thing>_for_user`` helpers below; a user without the permission
gets a 404, so nobody can learn that another team's queue or item exists.
"""

from collections.abc import Iterable
from typing import Any, TypeVar, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.http import Http404
from guardian.ctypes import get_content_type
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user, get_users_with_perms

from reviewapp.core.accounts.models import Membership, Role, Team

User = AbstractUser | AnonymousUser
M = TypeVar("M", bound=Model)

VIEW_WORKFLOW = "workflows.view_workflow"
SUBMIT_ITEMS = "workflows.submit_items"
REQUEST_EXPORT = "workflows.request_export"
APPROVE_EXPORT = "workflows.approve_export"
RELEASE_MODELS = "workflows.release_models"
# Retry or discard dead letters and send webhooks again: acting on the pipeline, not just seeing it.
OPERATE_WORKFLOW = "workflows.operate_workflow"
REVIEW_QUEUE = "reviews.review_queue"
MANAGE_QUEUE = "reviews.manage_queue"

# What each role may do on its own team's workflows and queues.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.REVIEWER: {"workflow": (), "queue": (REVIEW_QUEUE,)},
    Role.MANAGER: {
        "workflow": (VIEW_WORKFLOW, OPERATE_WORKFLOW),
        "queue": (REVIEW_QUEUE, MANAGE_QUEUE),
    },
    Role.ML_ENGINEER: {
        "workflow": (
            VIEW_WORKFLOW,
            OPERATE_WORKFLOW,
            REQUEST_EXPORT,
            APPROVE_EXPORT,
            RELEASE_MODELS,
        ),
        "queue": (),
    },
    Role.INTEGRATOR: {"workflow": (VIEW_WORKFLOW, SUBMIT_ITEMS), "queue": ()},
    Role.ADMIN: {
        "workflow": (
            VIEW_WORKFLOW,
            OPERATE_WORKFLOW,
            SUBMIT_ITEMS,
            REQUEST_EXPORT,
            APPROVE_EXPORT,
            RELEASE_MODELS,
        ),
        "queue": (REVIEW_QUEUE, MANAGE_QUEUE),
    },
}


def teams_of(user: User, roles: Iterable[str] | None = None) -> QuerySet[Team]:
    """The teams ``user`` holds one of ``roles`` in (any role when None)."""
    if not user.is_authenticated:
        return Team.objects.none()
    memberships = Membership.objects.filter(user_id=user.pk)
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return Team.objects.filter(pk__in=memberships.values("team_id"))


def team_role_group(team: Team, role: str) -> Group:
    group, _ = Group.objects.get_or_create(name=team.group_name(role))
    return group


def team_grant_object_permissions(
    *, team: Team, workflows: Iterable[Model] = (), queues: Iterable[Model] = ()
) -> None:
    """Grant every role group of ``team`` its permissions on the given objects.

    Each object gets about twenty grants (every role's permissions): one insert for all of
    them, where one ``assign_perm`` each took three queries. Grants that exist stay as they are.
    """
    objects = {"workflow": list(workflows), "queue": list(queues)}
    grants = []
    for kind, targets in objects.items():
        if not targets:
            continue
        content_type = get_content_type(targets[0])
        codenames = {
            perm.split(".", 1)[1] for perms in ROLE_PERMISSIONS.values() for perm in perms[kind]
        }
        permissions = {
            permission.codename: permission
            for permission in Permission.objects.filter(
                content_type=content_type, codename__in=codenames
            )
        }
        missing = codenames - permissions.keys()
        if missing:  # what assign_perm raised too: a permission no migration created
            raise Permission.DoesNotExist(f"no permission {sorted(missing)} on {content_type}")
        for role, perms in ROLE_PERMISSIONS.items():
            group = team_role_group(team, role)
            grants += [
                GroupObjectPermission(
                    group=group,
                    permission=permissions[perm.split(".", 1)[1]],
                    content_type=content_type,
                    object_pk=str(target.pk),
                )
                for perm in perms[kind]
                for target in targets
            ]
    GroupObjectPermission.objects.bulk_create(grants, ignore_conflicts=True)


def user_can(user: User, perm: str, obj: Model) -> bool:
    """Whether ``user`` holds ``perm`` on ``obj``, directly or through a team role.

    The same answer as ``user.has_perm(perm, obj)`` with django-guardian's backend (active
    superusers hold everything, inactive people nothing), in one query: guardian's checker reads
    the person's and their groups' permissions in two, and building its querysets was a large
    part of the CPU of every review request.
    """
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    app_label, codename = perm.split(".", 1)
    content_type = ContentType.objects.get_for_model(obj)
    if content_type.app_label != app_label:
        return False
    held = {
        "content_type_id": OuterRef("pk"),
        "object_pk": str(obj.pk),
        "permission__codename": codename,
    }
    direct = UserObjectPermission.objects.filter(user_id=user.pk, **held)
    through_role = GroupObjectPermission.objects.filter(group__user=user.pk, **held)
    return (
        ContentType.objects.filter(pk=content_type.pk)
        .filter(Exists(direct) | Exists(through_role))
        .exists()
    )


def user_can_sql(user: User, perm: str, model: type[Model], pk_sql: str) -> tuple[str, list]:
    """``user_can`` as a SQL condition on the ``model`` row whose primary key is ``pk_sql`` (a
    column of the caller's statement), with its parameters: a protected object and the right
    to see it come back in one statement.

    The text depends only on ``perm``, ``model``, ``pk_sql`` and whether the person is a
    superuser (the person is a parameter), so a prepared statement serves everyone."""
    if not (user.is_authenticated and user.is_active):
        return "FALSE", []
    if user.is_superuser:
        return "TRUE", []
    app_label, codename = perm.split(".", 1)
    content_type = ContentType.objects.get_for_model(model)
    if content_type.app_label != app_label:
        return "FALSE", []
    memberships = cast(Any, get_user_model()).groups.through._meta.db_table
    # Names from the models' metadata and the caller's column; every value is a parameter.
    held = (
        "SELECT 1 FROM {table} o JOIN {permissions} p ON p.id = o.permission_id {join} "  # noqa: S608
        "WHERE {who} = %s AND o.content_type_id = %s AND p.codename = %s "
        f"AND o.object_pk = ({pk_sql})::text"
    )
    direct = held.format(
        table=UserObjectPermission._meta.db_table,
        permissions=Permission._meta.db_table,
        join="",
        who="o.user_id",
    )
    through_role = held.format(
        table=GroupObjectPermission._meta.db_table,
        permissions=Permission._meta.db_table,
        join=f"JOIN {memberships} g ON g.group_id = o.group_id",
        who="g.user_id",
    )
    params = [user.pk, content_type.pk, codename]
    return f"EXISTS ({direct}) OR EXISTS ({through_role})", params + params


def objects_for_user(user: User, perm: str, model: type[M]) -> QuerySet[M]:
    """Every ``model`` object ``user`` holds ``perm`` on, through a team role or directly."""
    if not user.is_authenticated:
        return model._default_manager.none()
    return get_objects_for_user(user, perm, klass=model, accept_global_perms=False)


def users_with_perm(obj: Model, perm: str) -> QuerySet:
    """Active people who hold ``perm`` on ``obj`` (directly or through a team role), by name."""
    users = cast(
        QuerySet,
        get_users_with_perms(obj, only_with_perms_in=[perm.split(".")[1]], with_group_users=True),
    )
    return users.filter(is_active=True).order_by("username")


# Roles whose people keep work moving: they see the stall banner and the processes' health.
OPERATOR_ROLES = (Role.MANAGER, Role.ML_ENGINEER, Role.ADMIN)


def is_operator(user: User) -> bool:
    return bool(
        user.is_authenticated
        and (
            user.is_staff
            or Membership.objects.filter(user_id=user.pk, role__in=OPERATOR_ROLES).exists()
        )
    )


def manages_a_team(user: User) -> bool:
    return bool(
        user.is_authenticated
        and Membership.objects.filter(user_id=user.pk, role=Role.MANAGER).exists()
    )


def reviewers_managed_by(user: User) -> QuerySet:
    """Active reviewers of the teams ``user`` manages (whose profiles they may edit)."""
    from django.contrib.auth import get_user_model

    if not user.is_authenticated:
        return get_user_model().objects.none()
    teams = Membership.objects.filter(user_id=user.pk, role=Role.MANAGER).values("team_id")
    reviewers = Membership.objects.filter(team_id__in=teams, role=Role.REVIEWER).values("user_id")
    return get_user_model().objects.filter(pk__in=reviewers, is_active=True).order_by("username")


def may_edit_reviewer(user: User, reviewer) -> bool:
    """The one rule for changing a reviewer's skills and caps: superusers, or a manager of a team
    the person reviews for. Fellow managers and people who review only elsewhere are out."""
    if not user.is_authenticated:
        return False
    return bool(user.is_superuser or reviewers_managed_by(user).filter(pk=reviewer.pk).exists())


def get_reviewer_for_user(user: User, username: str):
    reviewer = reviewers_managed_by(user).filter(username=username).first()
    if reviewer is None:
        raise Http404("No such reviewer.")
    return reviewer
