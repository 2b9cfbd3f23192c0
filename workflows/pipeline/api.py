"""The threshold simulator over the API: replay recent items through a candidate policy."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from workflows.access import get_workflow_for_user
from workflows.outputs import PolicyComparisonOut
from workflows.pipeline.policy import ROUTING_SCHEMA
from workflows.pipeline.simulator import policy_simulate
from workflows.schemas import schema_errors


class SimulationSerializer(serializers.Serializer):
    policy = serializers.JSONField()
    last = serializers.IntegerField(min_value=1, max_value=100_000, default=1000)

    def validate_policy(self, policy):
        errors = schema_errors(ROUTING_SCHEMA, policy)
        if errors:
            raise ValidationError(errors)
        return policy


class PolicySimulationView(APIView):
    """Replay recent items through a candidate routing policy (the threshold simulator)."""

    @extend_schema(request=SimulationSerializer, responses=PolicyComparisonOut)
    def post(self, request, slug: str):
        workflow = get_workflow_for_user(request.user, slug)
        assert workflow.current_version is not None
        serializer = SimulationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        current = policy_simulate(
            workflow=workflow,
            policy=workflow.current_version.definition["routing"],
            last=data["last"],
        )
        candidate = policy_simulate(workflow=workflow, policy=data["policy"], last=data["last"])
        return Response({"current": current.as_dict(), "candidate": candidate.as_dict()})
