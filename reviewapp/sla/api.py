"""Manager actions over the API: assign a task to a reviewer, unassign it, bulk-assign a queue."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.permissions import (
    MANAGE_QUEUE,
    get_queue_for_user,
    get_task_for_user,
    queue_reviewers,
)
from reviewapp.reviews.services import (
    MAX_BULK_ASSIGN,
    TaskActionInvalid,
    review_task_reassign,
    review_task_unassign,
    review_tasks_bulk_assign,
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
    @extend_schema(request=AssignSerializer, responses={200: dict})
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
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id, MANAGE_QUEUE)
        task = review_task_unassign(task=task, acting_user=request.user)
        return Response(_task_state(task))


class QueueBulkAssignView(APIView):
    @extend_schema(request=BulkAssignSerializer, responses={200: dict})
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
