"""Manager actions over the API: assign a task to a reviewer, unassign it, bulk-assign a queue;
and the SLA settings: a queue's policy and escalation ladder, business calendars."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.errors import Forbidden, InvalidRequest
from reviewapp.core.permissions import MANAGE_QUEUE
from reviewapp.review.reviews.access import (
    get_queue_for_user,
    get_task_for_user,
    queue_managers,
    queue_reviewers,
    queues_for_user,
)
from reviewapp.review.reviews.assignments import (
    MAX_BULK_ASSIGN,
    TaskActionInvalid,
    review_task_reassign,
    review_task_unassign,
    review_tasks_bulk_assign,
)
from reviewapp.review.sla.access import (
    calendar_teams_for_user,
    calendars_for_user,
    get_calendar_for_user,
)
from reviewapp.review.sla.configuration import (
    business_calendar_save,
    escalation_step_add,
    escalation_step_remove,
    sla_policy_set,
)
from reviewapp.review.sla.inputs import CalendarInput, EscalationStepInput, SlaPolicyInput
from reviewapp.review.sla.models import (
    BusinessCalendar,
    EscalationStep,
    SlaPolicy,
)
from reviewapp.review.sla.outputs import (
    BulkAssignedOut,
    CalendarListOut,
    CalendarOut,
    EscalationStepListOut,
    EscalationStepOut,
    SlaPolicyOut,
    TaskAssignmentOut,
)


class AssignSerializer(serializers.Serializer):
    reviewer = serializers.CharField(max_length=150)


class BulkAssignSerializer(AssignSerializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_BULK_ASSIGN)


def _reviewer(queue, username: str):
    reviewer = queue_reviewers(queue).filter(username=username).first()
    if reviewer is None:
        raise TaskActionInvalid({"reviewer": ["This person cannot review tasks of this queue."]})
    return reviewer


def _task_state(task) -> dict:
    return {
        "task": task.pk,
        "status": task.status,
        "claimed_by": task.claimed_by.get_username() if task.claimed_by else None,
        "lease_expires_at": task.lease_expires_at.isoformat() if task.lease_expires_at else None,
    }


class TaskAssignView(APIView):
    @extend_schema(request=AssignSerializer, responses={200: TaskAssignmentOut})
    def post(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id, MANAGE_QUEUE)
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = review_task_reassign(
            task=task,
            to_reviewer=_reviewer(task.queue, serializer.validated_data["reviewer"]),
            acting_user=request.user,
        )
        return Response(_task_state(task))


class TaskUnassignView(APIView):
    @extend_schema(request=None, responses={200: TaskAssignmentOut})
    def post(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id, MANAGE_QUEUE)
        task = review_task_unassign(task=task, acting_user=request.user)
        return Response(_task_state(task))


class QueueBulkAssignView(APIView):
    @extend_schema(request=BulkAssignSerializer, responses={200: BulkAssignedOut})
    def post(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        serializer = BulkAssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tasks = review_tasks_bulk_assign(
            queue=queue,
            to_reviewer=_reviewer(queue, data["reviewer"]),
            count=data["count"],
            acting_user=request.user,
        )
        return Response(
            {"assigned": [task.pk for task in tasks], "reviewer": data["reviewer"]},
            status=status.HTTP_200_OK,
        )


# --- SLA settings ---------------------------------------------------------------------------------
# The inputs are those of the settings page (``reviewapp.review.sla.inputs``); a calendar, queue or
# person the caller cannot see is refused as if unknown.


def _policy_state(queue, policy: SlaPolicy | None) -> dict:
    return {
        "queue": queue.pk,
        "target_minutes": policy.target_minutes if policy else None,
        "warn_at_percent": policy.warn_at_percent if policy else None,
        "calendar": policy.calendar_id if policy else None,
    }


class QueueSlaPolicyView(APIView):
    """Managers: the queue's service level. PUT replaces it; it applies to tasks opened after."""

    @extend_schema(operation_id="queue_sla_policy", responses=SlaPolicyOut)
    def get(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        return Response(_policy_state(queue, SlaPolicy.objects.filter(queue=queue).first()))

    @extend_schema(
        operation_id="queue_sla_policy_set", request=SlaPolicyInput, responses=SlaPolicyOut
    )
    def put(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        values = SlaPolicyInput.checked(request.data, calendar=calendars_for_user(request.user))
        policy = sla_policy_set(queue=queue, acting_user=request.user, **values)
        return Response(_policy_state(queue, policy))


def _calendar_state(calendar: BusinessCalendar) -> dict:
    return {
        "id": calendar.pk,
        "team": calendar.team.slug if calendar.team else None,
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "working_hours": calendar.working_hours,
        "holidays": calendar.holidays,
    }


def _calendar_save(request, calendar: BusinessCalendar | None, team=None) -> BusinessCalendar:
    data = {k: v for k, v in request.data.items() if k != "team"} if calendar is None else None
    values = CalendarInput.checked(request.data if data is None else data)
    return business_calendar_save(calendar=calendar, team=team, acting_user=request.user, **values)


def _creating_team(request):
    """The team a new calendar belongs to: the one named, or the only one the user manages."""
    teams = calendar_teams_for_user(request.user)
    if not teams.exists():
        raise Forbidden("Only a queue's manager may add business calendars.")
    named = request.data.get("team") if isinstance(request.data, dict) else None
    if named is None:
        if teams.count() > 1:
            raise InvalidRequest({"team": ["You manage several teams: name the calendar's team."]})
        return teams.get()
    team = teams.filter(slug=named).first() if isinstance(named, str) else None
    if team is None:
        raise InvalidRequest({"team": ["Name a team whose queues you manage."]})
    return team


class CalendarListView(APIView):
    """Managers: the business calendars they may use (none another team relies on); POST adds."""

    @extend_schema(operation_id="calendars", responses=CalendarListOut)
    def get(self, request):
        return Response(
            {"calendars": [_calendar_state(c) for c in calendars_for_user(request.user)]}
        )

    @extend_schema(
        operation_id="calendar_create", request=CalendarInput, responses={201: CalendarOut}
    )
    def post(self, request):
        calendar = _calendar_save(request, None, team=_creating_team(request))
        return Response(_calendar_state(calendar), status=status.HTTP_201_CREATED)


class CalendarDetailView(APIView):
    @extend_schema(operation_id="calendar", responses=CalendarOut)
    def get(self, request, calendar_id: int):
        return Response(_calendar_state(get_calendar_for_user(request.user, calendar_id)))

    @extend_schema(operation_id="calendar_replace", request=CalendarInput, responses=CalendarOut)
    def put(self, request, calendar_id: int):
        calendar = get_calendar_for_user(request.user, calendar_id)
        return Response(_calendar_state(_calendar_save(request, calendar)))


def _step_state(step: EscalationStep) -> dict:
    return {
        "id": step.pk,
        "position": step.position,
        "trigger": step.trigger,
        "after_minutes": step.after_minutes,
        "action": step.action,
        "priority_boost": step.priority_boost,
        "target_queue": step.target_queue_id,
        "recipient": step.recipient.get_username() if step.recipient else None,
    }


class QueueEscalationStepsView(APIView):
    """Managers: the queue's escalation ladder in order; POST appends a rung."""

    @extend_schema(operation_id="queue_escalation_steps", responses=EscalationStepListOut)
    def get(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        steps = EscalationStep.objects.filter(queue=queue).select_related("recipient")
        return Response({"steps": [_step_state(step) for step in steps.order_by("position")]})

    @extend_schema(
        operation_id="queue_escalation_step_add",
        request=EscalationStepInput,
        responses={201: EscalationStepOut},
    )
    def post(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        values = EscalationStepInput.checked(
            request.data,
            target_queue=queues_for_user(request.user, MANAGE_QUEUE),
            recipient=queue_managers(queue),
        )
        step = escalation_step_add(queue=queue, acting_user=request.user, **values)
        return Response(_step_state(step), status=status.HTTP_201_CREATED)


class QueueEscalationStepView(APIView):
    @extend_schema(operation_id="queue_escalation_step_remove", responses={204: None})
    def delete(self, request, queue_id: int, step_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        step = EscalationStep.objects.filter(queue=queue, pk=step_id).first()
        if step is None:
            raise Http404("No such escalation step.")
        escalation_step_remove(step=step, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
