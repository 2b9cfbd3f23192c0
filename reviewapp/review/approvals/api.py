"""The approvals API: an agent asks (``POST``), then waits (a long poll) or gets a webhook."""

import uuid

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import PayloadTooLarge
from reviewapp.core.permissions import SUBMIT_ITEMS
from reviewapp.review.approvals.access import get_approval_for_user
from reviewapp.review.approvals.models import RiskLevel
from reviewapp.review.approvals.outputs import AgentApprovalOut
from reviewapp.review.approvals.selectors import approval_settled, approval_summary
from reviewapp.review.approvals.services import ApprovalAsk, approval_request
from workflows.access import get_workflow_for_user
from workflows.act.announce import item_settled_wait


class ApprovalRequestSerializer(serializers.Serializer):
    workflow = serializers.SlugField(max_length=50)
    tool = serializers.CharField(max_length=200)
    arguments = serializers.DictField(allow_empty=True)
    risk_level = serializers.ChoiceField(choices=RiskLevel.choices)
    requested_by = serializers.CharField(max_length=200)
    deadline_seconds = serializers.IntegerField(min_value=1, required=False)

    def get_fields(self):
        # A field called "context" cannot be declared: it would hide the serializer's own.
        fields = super().get_fields()
        fields["context"] = serializers.JSONField(required=False, allow_null=True)
        return fields


class WaitSerializer(serializers.Serializer):
    timeout = serializers.FloatField(min_value=0, required=False, default=30.0)

    def validate_timeout(self, value: float) -> float:
        limit = settings.REVIEWAPP_APPROVAL_MAX_WAIT_SECONDS
        if value > limit:
            raise serializers.ValidationError(f"Wait at most {limit} seconds; then ask again.")
        return value


class ApprovalRequestView(APIView):
    @extend_schema(
        request=ApprovalRequestSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: AgentApprovalOut, 200: AgentApprovalOut},
    )
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.REVIEWAPP_MAX_BODY_BYTES:
            raise PayloadTooLarge()
        serializer = ApprovalRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > 200:
            raise serializers.ValidationError({"Idempotency-Key": ["At most 200 characters."]})
        workflow = get_workflow_for_user(request.user, data["workflow"], SUBMIT_ITEMS)
        approval, created = approval_request(
            workflow=workflow,
            ask=ApprovalAsk(
                tool=data["tool"],
                arguments=data["arguments"],
                context=data.get("context"),
                risk_level=data["risk_level"],
                requested_by=data["requested_by"],
                deadline_seconds=data.get("deadline_seconds"),
                idempotency_key=key,
            ),
            submitted_by=request.user,
            correlation_id=getattr(request, "correlation_id", "") or uuid.uuid4().hex,
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(approval_summary(approval), status=code)


class ApprovalDetailView(APIView):
    @extend_schema(responses=AgentApprovalOut)
    def get(self, request, approval_id: int):
        return Response(approval_summary(get_approval_for_user(request.user, approval_id)))


class ApprovalWaitView(APIView):
    """Answers as soon as the approval is decided, or after ``timeout`` seconds with it pending.

    The wait holds no database connection (see ``item_settled_wait``).
    """

    @extend_schema(parameters=[OpenApiParameter("timeout", float)], responses=AgentApprovalOut)
    def get(self, request, approval_id: int):
        approval = get_approval_for_user(request.user, approval_id)
        query = WaitSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        item_settled_wait(
            approval.pk,
            timeout=query.validated_data["timeout"],
            settled=lambda: approval_settled(approval_id=approval.pk),
        )
        return Response(approval_summary(approval))
