import uuid

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api import PayloadTooLarge
from reviewapp.permissions import (
    RELEASE_MODELS,
    SUBMIT_ITEMS,
    get_export_for_user,
    get_item_for_user,
    get_workflow_for_user,
)
from workflows.canary import canary_start, canary_stop
from workflows.engine import item_dead_letter_discard, item_dead_letter_retry
from workflows.models import ModelVersion, TrainingRun
from workflows.policy import ROUTING_SCHEMA
from workflows.schemas import schema_errors
from workflows.selectors import canary_summary, item_detail, training_run_summary
from workflows.services import Submission, items_ingest
from workflows.simulator import policy_simulate
from workflows.training import model_retrain


class SubmissionSerializer(serializers.Serializer):
    input = serializers.JSONField()
    idempotency_key = serializers.CharField(max_length=200, required=False)


class IngestSerializer(serializers.Serializer):
    """One item (``{"input": {...}}``) or a batch (``{"items": [{"input": {...}}, ...]}``)."""

    input = serializers.JSONField(required=False)
    items = SubmissionSerializer(many=True, required=False)

    def validate(self, attrs):
        if ("input" in attrs) == ("items" in attrs):
            raise ValidationError({"input": ["Send either 'input' (one item) or 'items'."]})
        if "items" in attrs:
            if not attrs["items"]:
                raise ValidationError({"items": ["Send at least one item."]})
            if len(attrs["items"]) > settings.REVIEWAPP_MAX_BATCH:
                raise ValidationError(
                    {"items": [f"Send at most {settings.REVIEWAPP_MAX_BATCH} items per batch."]}
                )
        return attrs


class ItemIngestView(APIView):
    @extend_schema(
        request=IngestSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: dict, 200: dict},
    )
    def post(self, request, slug: str):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.REVIEWAPP_MAX_BODY_BYTES:
            raise PayloadTooLarge()
        workflow = get_workflow_for_user(request.user, slug, SUBMIT_ITEMS)
        serializer = IngestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key") or None
        correlation_id = getattr(request, "correlation_id", "") or uuid.uuid4().hex
        data = serializer.validated_data
        if "input" in data:
            submissions = [Submission(input=data["input"], idempotency_key=key)]
            prefix = ""
        else:
            # A batch key names the batch; each item gets "<key>/<index>" unless it has its own.
            submissions = [
                Submission(
                    input=entry["input"],
                    idempotency_key=entry.get("idempotency_key")
                    or (f"{key}/{index}" if key else None),
                )
                for index, entry in enumerate(data["items"])
            ]
            prefix = "items.{index}."
        results = items_ingest(
            workflow=workflow,
            submissions=submissions,
            submitted_by=request.user,
            correlation_id=correlation_id,
            error_prefix=prefix,
        )
        created = any(was_created for _, was_created in results)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        summaries = [item_detail(item, include_timeline=False) for item, _ in results]
        body = summaries[0] if "input" in data else {"items": summaries}
        return Response(body, status=code)


class ItemDetailView(APIView):
    @extend_schema(responses=dict)
    def get(self, request, item_id: int):
        item = get_item_for_user(request.user, item_id)
        return Response(item_detail(item))


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

    @extend_schema(request=SimulationSerializer, responses=dict)
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


class ItemRetryView(APIView):
    @extend_schema(request=None, responses=dict)
    def post(self, request, item_id: int):
        item = get_item_for_user(request.user, item_id)
        item = item_dead_letter_retry(item=item, acting_user=request.user)
        return Response(item_detail(item, include_timeline=False))


class DiscardSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ItemDiscardView(APIView):
    @extend_schema(request=DiscardSerializer, responses=dict)
    def post(self, request, item_id: int):
        item = get_item_for_user(request.user, item_id)
        serializer = DiscardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = item_dead_letter_discard(
            item=item, acting_user=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(item_detail(item, include_timeline=False) | {"discarded": True})


class CanarySerializer(serializers.Serializer):
    candidate = serializers.RegexField(r"^[^@]+@[^@]+$", help_text="name@version")
    percent = serializers.IntegerField()
    min_sample = serializers.IntegerField(default=50)
    gates = serializers.DictField(required=False)


class CanaryView(APIView):
    """The workflow's canaries, newest first, with their last evaluation; POST starts one."""

    @extend_schema(responses=dict)
    def get(self, request, slug: str):
        workflow = get_workflow_for_user(request.user, slug)
        return Response({"canaries": [canary_summary(c) for c in workflow.canaries.all()[:20]]})

    @extend_schema(request=CanarySerializer, responses={201: dict})
    def post(self, request, slug: str):
        workflow = get_workflow_for_user(request.user, slug, RELEASE_MODELS)
        serializer = CanarySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        name, version = data["candidate"].split("@")
        candidate = ModelVersion.objects.filter(name=name, version=version).first()
        if candidate is None:
            raise ValidationError({"candidate": [f"No model {data['candidate']} is registered."]})
        canary = canary_start(
            workflow=workflow,
            candidate=candidate,
            percent=data["percent"],
            min_sample=data["min_sample"],
            gates=data.get("gates"),
            acting_user=request.user,
        )
        return Response(canary_summary(canary), status=status.HTTP_201_CREATED)


class CanaryStopView(APIView):
    @extend_schema(request=None, responses=dict)
    def post(self, request, slug: str, canary_id: int):
        workflow = get_workflow_for_user(request.user, slug, RELEASE_MODELS)
        canary = get_object_or_404(workflow.canaries, pk=canary_id)
        return Response(canary_summary(canary_stop(canary=canary, acting_user=request.user)))


class ReleaseRetrainView(APIView):
    """Train a candidate model on a ready release; 202 with the queued run."""

    @extend_schema(request=None, responses={202: dict})
    def post(self, request, export_id: int):
        release = get_export_for_user(request.user, export_id)
        run = model_retrain(release=release, acting_user=request.user)
        return Response(training_run_summary(run), status=status.HTTP_202_ACCEPTED)


class TrainingRunView(APIView):
    @extend_schema(responses=dict)
    def get(self, request, run_id: int):
        run = get_object_or_404(
            TrainingRun.objects.select_related(
                "workflow", "release", "base", "candidate", "requested_by"
            ),
            pk=run_id,
        )
        # Whoever may see the workflow may follow its training runs; others get the same 404.
        get_workflow_for_user(request.user, run.workflow.slug)
        return Response(training_run_summary(run))
