"""The only door to django-guardian.

Roles are granted per team: each (team, role) pair is an auth Group, and this module grants those
groups object permissions on the team's workflows and queues. Views and endpoints fetch protected
objects only through the ``get_<thing>_for_user`` helpers below; a user without the permission
gets a 404, so nobody can learn that another team's queue or item exists.
"""

from collections.abc import Iterable
from typing import cast

from django.contrib.auth.models import AbstractUser, AnonymousUser, Group
from django.db.models import Model, QuerySet
from django.http import Http404
from guardian.shortcuts import assign_perm, get_objects_for_user, get_users_with_perms

from reviewapp.core.accounts.models import Role, Team
from reviewapp.learn.datasets.models import DatasetExport
from reviewapp.review.reviews.models import Queue, ReviewTask
from workflows.models import Item, Workflow

User = AbstractUser | AnonymousUser

VIEW_WORKFLOW = "workflows.view_workflow"
SUBMIT_ITEMS = "workflows.submit_items"
REQUEST_EXPORT = "workflows.request_export"
APPROVE_EXPORT = "workflows.approve_export"
RELEASE_MODELS = "workflows.release_models"
REVIEW_QUEUE = "reviews.review_queue"
MANAGE_QUEUE = "reviews.manage_queue"

# What each role may do on its own team's workflows and queues.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.REVIEWER: {"workflow": (), "queue": (REVIEW_QUEUE,)},
    Role.MANAGER: {"workflow": (VIEW_WORKFLOW,), "queue": (REVIEW_QUEUE, MANAGE_QUEUE)},
    Role.ML_ENGINEER: {
        "workflow": (VIEW_WORKFLOW, REQUEST_EXPORT, APPROVE_EXPORT, RELEASE_MODELS),
        "queue": (),
    },
    Role.INTEGRATOR: {"workflow": (VIEW_WORKFLOW, SUBMIT_ITEMS), "queue": ()},
    Role.ADMIN: {
        "workflow": (VIEW_WORKFLOW, SUBMIT_ITEMS, REQUEST_EXPORT, APPROVE_EXPORT, RELEASE_MODELS),
        "queue": (REVIEW_QUEUE, MANAGE_QUEUE),
    },
}


def team_role_group(team: Team, role: str) -> Group:
    group, _ = Group.objects.get_or_create(name=team.group_name(role))
    return group


def team_grant_object_permissions(
    *, team: Team, workflows: Iterable[Workflow] = (), queues: Iterable[Queue] = ()
) -> None:
    """Grant every role group of ``team`` its permissions on the given objects."""
    workflows, queues = list(workflows), list(queues)
    for role, perms in ROLE_PERMISSIONS.items():
        group = team_role_group(team, role)
        for perm in perms["workflow"]:
            for workflow in workflows:
                assign_perm(perm, group, workflow)
        for perm in perms["queue"]:
            for queue in queues:
                assign_perm(perm, group, queue)


def user_can(user: User, perm: str, obj: Model) -> bool:
    return bool(user.is_authenticated and user.has_perm(perm, obj))


def queues_for_user(user: User, perm: str = REVIEW_QUEUE) -> QuerySet[Queue]:
    if not user.is_authenticated:
        return Queue.objects.none()
    return get_objects_for_user(user, perm, klass=Queue, accept_global_perms=False)


def workflows_for_user(user: User, perm: str = VIEW_WORKFLOW) -> QuerySet[Workflow]:
    if not user.is_authenticated:
        return Workflow.objects.none()
    return get_objects_for_user(user, perm, klass=Workflow, accept_global_perms=False)


def get_queue_for_user(user: User, queue_id: int, perm: str = REVIEW_QUEUE) -> Queue:
    try:
        queue = Queue.objects.select_related("workflow").get(pk=queue_id)
    except (Queue.DoesNotExist, ValueError, TypeError):
        raise Http404("No such queue.") from None
    if not user_can(user, perm, queue):
        raise Http404("No such queue.")
    return queue


def get_task_for_user(user: User, task_id: int, perm: str = REVIEW_QUEUE) -> ReviewTask:
    try:
        task = ReviewTask.objects.select_related(
            "queue", "queue__workflow", "item", "item__prediction"
        ).get(pk=task_id)
    except (ReviewTask.DoesNotExist, ValueError, TypeError):
        raise Http404("No such task.") from None
    if not user_can(user, perm, task.queue):
        raise Http404("No such task.")
    return task


def get_workflow_for_user(user: User, slug: str, perm: str = VIEW_WORKFLOW) -> Workflow:
    try:
        workflow = Workflow.objects.select_related("current_version").get(slug=slug)
    except Workflow.DoesNotExist:
        raise Http404("No such workflow.") from None
    if not user_can(user, perm, workflow):
        raise Http404("No such workflow.")
    return workflow


def can_view_item(user: User, item: Item) -> bool:
    """Whoever may see the workflow, or review in a queue that holds the item, may see it."""
    if user_can(user, VIEW_WORKFLOW, item.workflow):
        return True
    reviewable = queues_for_user(user, REVIEW_QUEUE)
    return item.tasks.filter(queue__in=reviewable).exists()


def get_item_for_user(user: User, item_id: int) -> Item:
    try:
        item = Item.objects.select_related("workflow", "workflow_version").get(pk=item_id)
    except (Item.DoesNotExist, ValueError, TypeError):
        raise Http404("No such item.") from None
    if not can_view_item(user, item):
        raise Http404("No such item.")
    return item


def get_export_for_user(user: User, export_id: int, perm: str = REQUEST_EXPORT) -> DatasetExport:
    """An export is visible to whoever may request or approve exports of its workflow."""
    try:
        export = DatasetExport.objects.select_related("workflow", "requested_by").get(pk=export_id)
    except (DatasetExport.DoesNotExist, ValueError, TypeError):
        raise Http404("No such export.") from None
    if not (
        user_can(user, perm, export.workflow) or user_can(user, APPROVE_EXPORT, export.workflow)
    ):
        raise Http404("No such export.")
    return export


def exports_for_user(user: User) -> QuerySet[DatasetExport]:
    workflows = workflows_for_user(user, REQUEST_EXPORT) | workflows_for_user(user, APPROVE_EXPORT)
    return DatasetExport.objects.filter(workflow__in=workflows).select_related(
        "workflow", "requested_by", "decided_by"
    )


def queue_reviewers(queue: Queue) -> QuerySet:
    """Active people who may review the queue (directly or through a team role), by name."""
    users = cast(
        QuerySet,
        get_users_with_perms(
            queue, only_with_perms_in=[REVIEW_QUEUE.split(".")[1]], with_group_users=True
        ),
    )
    return users.filter(is_active=True).order_by("username")


def calendars_for_user(user: User) -> QuerySet:
    """Business calendars a manager may choose and edit: every calendar no other team relies on.

    Calendars belong to no team, so one that a queue the user does not manage uses stays out of
    sight (editing it would move another team's deadlines); unused ones are open to any manager.
    """
    from reviewapp.review.sla.models import BusinessCalendar, SlaPolicy

    managed = queues_for_user(user, MANAGE_QUEUE)
    if not managed.exists():
        return BusinessCalendar.objects.none()
    # calendar_id is nullable: NOT IN over a NULL would hide every calendar.
    foreign = SlaPolicy.objects.filter(calendar__isnull=False).exclude(queue__in=managed)
    return BusinessCalendar.objects.exclude(pk__in=foreign.values("calendar_id")).order_by("name")


def get_calendar_for_user(user: User, calendar_id: int):
    calendar = calendars_for_user(user).filter(pk=calendar_id).first()
    if calendar is None:
        raise Http404("No such calendar.")
    return calendar


def manages_a_team(user: User) -> bool:
    from reviewapp.core.accounts.models import Membership

    return bool(
        user.is_authenticated
        and Membership.objects.filter(user_id=user.pk, role=Role.MANAGER).exists()
    )


def reviewers_managed_by(user: User) -> QuerySet:
    """Active reviewers of the teams ``user`` manages (whose profiles they may edit)."""
    from django.contrib.auth import get_user_model

    from reviewapp.core.accounts.models import Membership

    if not user.is_authenticated:
        return get_user_model().objects.none()
    teams = Membership.objects.filter(user_id=user.pk, role=Role.MANAGER).values("team_id")
    reviewers = Membership.objects.filter(team_id__in=teams, role=Role.REVIEWER).values("user_id")
    return get_user_model().objects.filter(pk__in=reviewers, is_active=True).order_by("username")


def get_reviewer_for_user(user: User, username: str):
    reviewer = reviewers_managed_by(user).filter(username=username).first()
    if reviewer is None:
        raise Http404("No such reviewer.")
    return reviewer


def queue_managers(queue: Queue) -> QuerySet:
    """Active people who manage the queue (an escalation may notify one of them), by name."""
    users = cast(
        QuerySet,
        get_users_with_perms(
            queue, only_with_perms_in=[MANAGE_QUEUE.split(".")[1]], with_group_users=True
        ),
    )
    return users.filter(is_active=True).order_by("username")
