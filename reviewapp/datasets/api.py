from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.datasets.models import ExportFormat
from reviewapp.datasets.selectors import export_summary
from reviewapp.datasets.services import (
    dataset_export_approve,
    dataset_export_download,
    dataset_export_reject,
    dataset_export_request,
)
from reviewapp.permissions import (
    APPROVE_EXPORT,
    REQUEST_EXPORT,
    exports_for_user,
    get_export_for_user,
    get_workflow_for_user,
)


class ExportRequestSerializer(serializers.Serializer):
    workflow = serializers.SlugField()
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.JSONL)
    filters = serializers.DictField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ExportListView(APIView):
    @extend_schema(operation_id="exports_list", responses=dict)
    def get(self, request):
        return Response({"exports": [export_summary(e) for e in exports_for_user(request.user)]})

    @extend_schema(request=ExportRequestSerializer, responses={201: dict})
    def post(self, request):
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        workflow = get_workflow_for_user(request.user, data["workflow"], REQUEST_EXPORT)
        export = dataset_export_request(
            workflow=workflow,
            requested_by=request.user,
            export_format=data["format"],
            filters=data.get("filters", {}),
            note=data.get("note", ""),
        )
        return Response(export_summary(export), status=status.HTTP_201_CREATED)


class ExportDetailView(APIView):
    @extend_schema(responses=dict)
    def get(self, request, export_id: int):
        return Response(export_summary(get_export_for_user(request.user, export_id)))


class ExportApproveView(APIView):
    @extend_schema(request=None, responses=dict)
    def post(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
        return Response(export_summary(dataset_export_approve(export=export,
                                                              approver=request.user)))


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ExportRejectView(APIView):
    @extend_schema(request=RejectSerializer, responses=dict)
    def post(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = dataset_export_reject(
            export=export, approver=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(export_summary(export))


class ExportDownloadView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, export_id: int):
        export = get_export_for_user(request.user, export_id)
        path = dataset_export_download(export=export, user=request.user)
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
