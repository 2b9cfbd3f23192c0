"""Canaries, retraining runs and their status over the API."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.accounts.models import Team
from reviewapp.core.permissions import RELEASE_MODELS
from reviewapp.learn.datasets.access import get_export_for_user
from reviewapp.learn.training.canary import canary_start, canary_stop
from reviewapp.learn.training.outputs import CanaryListOut, CanaryOut, ModelShareOut, TrainingRunOut
from reviewapp.learn.training.selectors import canary_summary, training_run_summary
from reviewapp.learn.training.services import model_retrain
from workflows.access import get_model_to_share_for_user, get_workflow_for_user, models_for_team
from workflows.models import TrainingRun
from workflows.services import model_version_share


class CanarySerializer(serializers.Serializer):
    candidate = serializers.RegexField(r"^[^@]+@[^@]+$", help_text="name@version")
    percent = serializers.IntegerField()
    min_sample = serializers.IntegerField(default=50)
    gates = serializers.DictField(required=False)


class CanaryView(APIView):
    """The workflow's canaries, newest first, with their last evaluation; POST starts one."""

    @extend_schema(responses=CanaryListOut)
    def get(self, request, slug: str):
        workflow = get_workflow_for_user(request.user, slug)
        return Response({"canaries": [canary_summary(c) for c in workflow.canaries.all()[:20]]})

    @extend_schema(request=CanarySerializer, responses={201: CanaryOut})
    def post(self, request, slug: str):
        workflow = get_workflow_for_user(request.user, slug, RELEASE_MODELS)
        serializer = CanarySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        name, version = data["candidate"].split("@")
        # Another team's model answers exactly like one that does not exist.
        candidate = models_for_team(workflow.team).filter(name=name, version=version).first()
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
    @extend_schema(request=None, responses=CanaryOut)
    def post(self, request, slug: str, canary_id: int):
        workflow = get_workflow_for_user(request.user, slug, RELEASE_MODELS)
        canary = get_object_or_404(workflow.canaries, pk=canary_id)
        return Response(canary_summary(canary_stop(canary=canary, acting_user=request.user)))


class ReleaseRetrainView(APIView):
    """Train a candidate model on a ready release; 202 with the queued run."""

    @extend_schema(request=None, responses={202: TrainingRunOut})
    def post(self, request, export_id: int):
        release = get_export_for_user(request.user, export_id)
        run = model_retrain(release=release, acting_user=request.user)
        return Response(training_run_summary(run), status=status.HTTP_202_ACCEPTED)


class TrainingRunView(APIView):
    @extend_schema(responses=TrainingRunOut)
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


class ModelShareSerializer(serializers.Serializer):
    team = serializers.SlugField(help_text="The team that may use the model")
    shared = serializers.BooleanField(default=True, help_text="false takes the share back")


class ModelShareView(APIView):
    """Admins of the owning team (or superusers) let another team use one of its models."""

    @extend_schema(request=ModelShareSerializer, responses=ModelShareOut)
    def post(self, request, model_id: int):
        model = get_model_to_share_for_user(request.user, model_id)
        serializer = ModelShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = Team.objects.filter(slug=serializer.validated_data["team"]).first()
        if team is None:
            raise ValidationError({"team": ["No such team."]})
        model = model_version_share(
            model_version=model,
            team=team,
            shared=serializer.validated_data["shared"],
            acting_user=request.user,
        )
        return Response(
            {
                "model": str(model),
                "team": model.team.slug if model.team else None,
                "shared_with": sorted(model.shared_with.values_list("slug", flat=True)),
            }
        )
