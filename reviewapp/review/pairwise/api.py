"""The pairwise API: a comparison as the reviewer sees it, the decision, and win rates.

Claims go through the queues' own ``/api/v1/queues/<id>/claim``; its answer for a pairwise task
carries no output, and the comparison is read here, blind (A and B, no versions).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.review.pairwise.access import get_comparison_task_for_user
from reviewapp.review.pairwise.models import Choice
from reviewapp.review.pairwise.selectors import comparison_for_task, matchups
from reviewapp.review.pairwise.services import REASON_MAX_LENGTH, comparison_decide
from reviewapp.review.reviews.models import TaskStatus
from workflows.access import get_workflow_for_user


def comparison_summary(task, *, viewer) -> dict:
    blind = comparison_for_task(task)
    holds_claim = task.status == TaskStatus.CLAIMED and task.claimed_by_id == viewer.pk
    return {
        "id": task.pk,
        "queue": task.queue_id,
        "status": task.status,
        "input": blind.input,
        "a": blind.a,
        "b": blind.b,
        "choice": blind.comparison.choice or None,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "claim_token": str(task.claim_token) if holds_claim else None,
        "lease_expires_at": task.lease_expires_at.isoformat()
        if holds_claim and task.lease_expires_at
        else None,
    }


class ComparisonOut(serializers.Serializer):
    id = serializers.IntegerField()
    queue = serializers.IntegerField()
    status = serializers.CharField()
    input = serializers.JSONField()
    a = serializers.JSONField()
    b = serializers.JSONField()
    choice = serializers.CharField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    claim_token = serializers.UUIDField(allow_null=True)
    lease_expires_at = serializers.DateTimeField(allow_null=True)


class ComparisonDecisionSerializer(serializers.Serializer):
    claim_token = serializers.UUIDField()
    choice = serializers.ChoiceField(choices=Choice.choices)
    # Blank reasons reach the service, which owns the rule and its message.
    reason = serializers.CharField(allow_blank=True, max_length=REASON_MAX_LENGTH)
    time_spent_ms = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)


class ComparisonDecidedOut(serializers.Serializer):
    task = serializers.IntegerField()
    choice = serializers.CharField()


class ComparisonView(APIView):
    @extend_schema(operation_id="pairwise_task", responses=ComparisonOut)
    def get(self, request, task_id: int):
        task = get_comparison_task_for_user(request.user, task_id)
        return Response(comparison_summary(task, viewer=request.user))


class ComparisonDecisionView(APIView):
    @extend_schema(
        operation_id="pairwise_decide",
        request=ComparisonDecisionSerializer,
        responses={201: ComparisonDecidedOut},
    )
    def post(self, request, task_id: int):
        task = get_comparison_task_for_user(request.user, task_id)
        serializer = ComparisonDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        comparison = comparison_decide(
            task=task,
            reviewer=request.user,
            claim_token=data["claim_token"],
            choice=data["choice"],
            reason=data["reason"],
            time_spent_ms=data.get("time_spent_ms"),
        )
        return Response(
            {"task": task.pk, "choice": comparison.choice}, status=status.HTTP_201_CREATED
        )


class WinRatesView(APIView):
    """Each champion/candidate pair of the workflow with the candidate's and the champion's win
    rate among decisive comparisons (ties left out) and its 95 % Wilson interval."""

    @extend_schema(operation_id="pairwise_win_rates", responses=dict)
    def get(self, request, slug: str):
        workflow = get_workflow_for_user(request.user, slug)
        return Response(
            {
                "workflow": workflow.slug,
                "matchups": [m.as_dict() for m in matchups(workflow_id=workflow.pk)],
            }
        )
