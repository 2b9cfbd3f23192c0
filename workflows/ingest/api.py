"""The ingest endpoint: one item or a batch, idempotent, validated before anything is stored."""

import uuid

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import PayloadTooLarge
from reviewapp.core.permissions import SUBMIT_ITEMS
from reviewapp.core.untrusted import whole_number
from workflows.access import get_workflow_for_user
from workflows.ingest.services import (
    MAX_BATCH_IDEMPOTENCY_KEY,
    Submission,
    idempotency_key_problem,
    items_ingest,
)
from workflows.outputs import ItemBatchOut, ItemSummaryOut
from workflows.selectors import item_summary


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


# One item answers with its summary, a batch with {"items": [...]}.
_INGESTED = PolymorphicProxySerializer(
    component_name="Ingested",
    serializers=[ItemSummaryOut, ItemBatchOut],
    resource_type_field_name=None,
)


class ItemIngestView(APIView):
    token_scopes = {"POST": "ingest"}

    @extend_schema(
        request=IngestSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Printable ASCII without spaces, at most "
                f"{MAX_BATCH_IDEMPOTENCY_KEY} characters; a replay returns the stored item.",
            )
        ],
        responses={201: _INGESTED, 200: _INGESTED},
    )
    def post(self, request, slug: str):
        length = whole_number(request.META.get("CONTENT_LENGTH"))
        if length is not None and length > settings.REVIEWAPP_MAX_BODY_BYTES:
            raise PayloadTooLarge()
        workflow = get_workflow_for_user(request.user, slug, SUBMIT_ITEMS)
        key = request.headers.get("Idempotency-Key") or None
        problem = key and idempotency_key_problem(key, maximum=MAX_BATCH_IDEMPOTENCY_KEY)
        if problem:
            raise ValidationError({"Idempotency-Key": [problem]})
        serializer = IngestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
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
        summaries = [item_summary(item) for item, _ in results]
        body = summaries[0] if "input" in data else {"items": summaries}
        return Response(body, status=code)
