from django.db import DatabaseError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.permissions import MANAGE_QUEUE
from reviewapp.review.reviews.access import get_queue_for_user, get_task_for_user, queues_for_user
from reviewapp.review.reviews.claims import (
    SKIP_REASON_MAX_LENGTH,
    review_task_claim,
    review_task_extend,
    review_task_release,
    review_task_skip,
)
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.eligibility import CapacityReached, SkillsMissing
from reviewapp.review.reviews.inputs import CLAIM_SETTING_FIELDS, QueueClaimSettingsInput
from reviewapp.review.reviews.models import DecisionOutcome
from reviewapp.review.reviews.outputs import (
    DecidedOut,
    QueueListOut,
    QueueSettingsOut,
    TaskExtendedOut,
    TaskOut,
    TaskStateOut,
)
from reviewapp.review.reviews.queues import queue_claim_settings_set
from reviewapp.review.reviews.selectors import queues_with_counts, task_summary


class QueueListView(APIView):
    @extend_schema(operation_id="queues_list", responses=QueueListOut)
    def get(self, request):
        queues = queues_with_counts(queues_for_user(request.user), reviewer=request.user)
        return Response(
            {
                "queues": [
                    {
                        "id": row.queue.pk,
                        "slug": row.queue.slug,
                        "name": row.queue.name,
                        "workflow": row.queue.workflow.slug,
                        "open": row.open,
                        "claimed": row.claimed,
                        "mine": row.mine,
                    }
                    for row in queues
                ]
            }
        )


class QueueClaimView(APIView):
    @extend_schema(request=None, responses={200: TaskOut, 204: None})
    def post(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id)
        task = review_task_claim(queue=queue, reviewer=request.user)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_summary(task, viewer=request.user))


class TaskDetailView(APIView):
    @extend_schema(responses=TaskOut)
    def get(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id)
        return Response(task_summary(task, viewer=request.user))


class DecisionSerializer(serializers.Serializer):
    claim_token = serializers.UUIDField()
    outcome = serializers.ChoiceField(choices=DecisionOutcome.choices)
    output = serializers.JSONField(required=False)
    # Paths of the workflow's reason taxonomy, e.g. "wrong-category/near-miss".
    reason_codes = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    # The column is a 32-bit integer: a 24-day review is not a measurement.
    time_spent_ms = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    next = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also claim the next task of the queue (submit and next).",
    )


class TaskDecisionView(APIView):
    @extend_schema(request=DecisionSerializer, responses={201: DecidedOut})
    def post(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id)
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        decision = review_task_decide(
            task=task,
            reviewer=request.user,
            claim_token=data["claim_token"],
            outcome=data["outcome"],
            output=data.get("output"),
            reason_codes=data.get("reason_codes", []),
            comment=data.get("comment", ""),
            time_spent_ms=data.get("time_spent_ms"),
        )
        body = {"task": task.pk, "outcome": decision.outcome, "output": decision.output}
        if data["next"]:
            body |= _claim_next(request, task)
        return Response(body, status=status.HTTP_201_CREATED)


def _claim_next(request, task) -> dict:
    """Submit and next: the decision is committed, so a failure after it (the claim, or reading
    the claimed task for the answer) never hides that."""
    try:
        next_task = review_task_claim(queue=task.queue, reviewer=request.user)
        return {"next": task_summary(next_task, viewer=request.user) if next_task else None}
    except (CapacityReached, SkillsMissing) as refused:
        return {"next": None, "next_error": str(refused)}
    except DatabaseError:
        return {
            "next": None,
            "next_error": "Your decision is saved; the next task could not be loaded. "
            "Claim again in a moment.",
        }


class ClaimTokenSerializer(serializers.Serializer):
    claim_token = serializers.UUIDField()


class TaskReleaseView(APIView):
    @extend_schema(request=ClaimTokenSerializer, responses={200: TaskStateOut})
    def post(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id)
        serializer = ClaimTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = review_task_release(
            task=task, reviewer=request.user, claim_token=serializer.validated_data["claim_token"]
        )
        return Response({"task": task.pk, "status": task.status})


class TaskExtendView(APIView):
    """The heartbeat of an API client holding a claim: another lease from now."""

    @extend_schema(request=ClaimTokenSerializer, responses={200: TaskExtendedOut})
    def post(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id)
        serializer = ClaimTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = review_task_extend(
            task=task, reviewer=request.user, claim_token=serializer.validated_data["claim_token"]
        )
        return Response(
            {"task": task.pk, "status": task.status, "lease_expires_at": task.lease_expires_at}
        )


class SkipSerializer(ClaimTokenSerializer):
    # Blank and whitespace-only reasons reach the service, which owns the rule and its message.
    reason = serializers.CharField(
        allow_blank=True, trim_whitespace=False, max_length=SKIP_REASON_MAX_LENGTH
    )


class TaskSkipView(APIView):
    @extend_schema(request=SkipSerializer, responses={200: TaskStateOut})
    def post(self, request, task_id: int):
        task = get_task_for_user(request.user, task_id)
        serializer = SkipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        task = review_task_skip(
            task=task, reviewer=request.user, claim_token=data["claim_token"], reason=data["reason"]
        )
        return Response({"task": task.pk, "status": task.status})


def _queue_settings(queue) -> dict:
    return {"queue": queue.pk} | {name: getattr(queue, name) for name in CLAIM_SETTING_FIELDS}


class QueueSettingsView(APIView):
    """Managers: how the queue orders claims (weights), who may claim (skills, language field,
    cap per reviewer), and where escalations are POSTed. PATCH changes only the fields sent."""

    @extend_schema(operation_id="queue_settings", responses=QueueSettingsOut)
    def get(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        return Response(_queue_settings(queue))

    @extend_schema(
        operation_id="queue_settings_change",
        request=QueueClaimSettingsInput,
        responses=QueueSettingsOut,
    )
    def patch(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        # Checked (QueueClaimSettingsInput) by the service, with the rules of the queue's state.
        queue = queue_claim_settings_set(
            queue=queue, acting_user=request.user, changes=request.data
        )
        return Response(_queue_settings(queue))
