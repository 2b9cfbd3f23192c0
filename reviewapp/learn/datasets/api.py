from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.permissions import APPROVE_EXPORT, REQUEST_EXPORT
from reviewapp.learn.datasets.access import exports_for_user, get_export_for_user
from reviewapp.learn.datasets.downloads import export_file_response
from reviewapp.learn.datasets.label_studio import (
    LabelStudioPushFailed,
    dataset_release_push_label_studio,
)
from reviewapp.learn.datasets.label_studio_pull import (
    dataset_release_pull_label_studio_start,
    pull_summary,
)
from reviewapp.learn.datasets.models import ExportFormat, LabelStudioPullStatus
from reviewapp.learn.datasets.outputs import (
    ExportListOut,
    ExportOut,
    LabelStudioPullOut,
    LabelStudioPushOut,
    PreviewOut,
)
from reviewapp.learn.datasets.selectors import dataset_preview, export_summary
from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_download,
    dataset_export_reject,
    dataset_export_request,
)
from workflows.access import get_workflow_for_user


class ExportRequestSerializer(serializers.Serializer):
    workflow = serializers.SlugField()
    # One format (the form older clients send) or several: one approval covers them all.
    format = serializers.ChoiceField(choices=ExportFormat.choices, required=False)
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=ExportFormat.choices),
        required=False,
        min_length=1,
        max_length=len(ExportFormat.choices),
        help_text="Every format the release is built in, from the same rows; default jsonl.",
    )
    # Any JSON object: the dataset spec parser reports unknown names and bad values itself.
    filters = serializers.JSONField(required=False, default=dict)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    include_sensitive = serializers.BooleanField(required=False, default=False)


class PreviewSerializer(serializers.Serializer):
    workflow = serializers.SlugField()
    filters = serializers.JSONField(required=False, default=dict)


class ExportListView(APIView):
    @extend_schema(operation_id="exports_list", responses=ExportListOut)
    def get(self, request):
        return Response({"exports": [export_summary(e) for e in exports_for_user(request.user)]})

    @extend_schema(request=ExportRequestSerializer, responses={201: ExportOut})
    def post(self, request):
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        workflow = get_workflow_for_user(request.user, data["workflow"], REQUEST_EXPORT)
        export = dataset_export_request(
            workflow=workflow,
            requested_by=request.user,
            export_format=data.get("format"),
            export_formats=data.get("formats"),
            filters=data["filters"],
            note=data.get("note", ""),
            include_sensitive=data["include_sensitive"],
        )
        return Response(export_summary(export), status=status.HTTP_201_CREATED)


class ExportPreviewView(APIView):
    @extend_schema(operation_id="exports_preview", request=PreviewSerializer, responses=PreviewOut)
    def post(self, request):
        serializer = PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        workflow = get_workflow_for_user(request.user, data["workflow"], REQUEST_EXPORT)
        return Response(dataset_preview(workflow=workflow, filters=data["filters"]))


class ExportDetailView(APIView):
    @extend_schema(responses=ExportOut)
    def get(self, request, export_id: int):
        return Response(export_summary(get_export_for_user(request.user, export_id)))


class ApproveSerializer(serializers.Serializer):
    allow_sensitive = serializers.BooleanField(required=False, default=False)


class ExportApproveView(APIView):
    @extend_schema(request=ApproveSerializer, responses=ExportOut)
    def post(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
        serializer = ApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = dataset_export_approve(
            export=export,
            approver=request.user,
            allow_sensitive=serializer.validated_data["allow_sensitive"],
        )
        return Response(export_summary(export))


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ExportRejectView(APIView):
    @extend_schema(request=RejectSerializer, responses=ExportOut)
    def post(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = dataset_export_reject(
            export=export, approver=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(export_summary(export))


class DownloadSerializer(serializers.Serializer):
    # Not ``format``: DRF reads that query parameter as the response's renderer.
    file_format = serializers.ChoiceField(choices=ExportFormat.choices, required=False)


class ExportDownloadView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "file_format",
                str,
                enum=ExportFormat.values,
                required=False,
                description="Which of the release's formats; the first when not given.",
            )
        ],
        responses={
            (200, "application/octet-stream"): bytes,
            404: OpenApiResponse(description="No such export, or not built in that format."),
        },
    )
    def get(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id)
        serializer = DownloadSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        release_file = dataset_export_download(
            export=export,
            user=request.user,
            export_format=serializer.validated_data.get("file_format"),
        )
        return export_file_response(release_file)


class ExportLabelStudioView(APIView):
    @extend_schema(
        operation_id="exports_push_label_studio", request=None, responses=LabelStudioPushOut
    )
    def post(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
        if not settings.LABEL_STUDIO_URL:
            raise LabelStudioPushFailed("No Label Studio server is configured (LABEL_STUDIO_URL).")
        result = dataset_release_push_label_studio(
            export=export,
            acting_user=request.user,
            base_url=settings.LABEL_STUDIO_URL,
            api_key=settings.LABEL_STUDIO_API_KEY,
        )
        return Response(result)


class ExportLabelStudioPullView(APIView):
    """Pull annotations made in the release's Label Studio project back as corrections.

    POST queues the pull (202); GET polls it. A failed pull answers 502 with Label Studio's
    error, like a failed push.
    """

    @extend_schema(
        operation_id="exports_pull_label_studio",
        request=None,
        responses={202: LabelStudioPullOut},
    )
    def post(self, request, export_id: int):
        # Whoever may push the release may pull it back.
        export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
        if not settings.LABEL_STUDIO_URL:
            raise LabelStudioPushFailed("No Label Studio server is configured (LABEL_STUDIO_URL).")
        export = dataset_release_pull_label_studio_start(export=export, acting_user=request.user)
        return Response(pull_summary(export), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="exports_pull_label_studio_status",
        responses={
            200: LabelStudioPullOut,
            502: OpenApiResponse(description="The pull failed; `detail` says why."),
        },
    )
    def get(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
        summary = pull_summary(export)
        if export.label_studio_pull_status == LabelStudioPullStatus.FAILED:
            error = export.label_studio_pull_result.get("error", "The pull failed.")
            return Response(summary | {"detail": error}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(summary)
