"""Managers' API for reviewer quality: a queue's settings, its gold items, per-reviewer figures.

Every endpoint needs the manage permission on the queue; anyone else gets 404.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.permissions import MANAGE_QUEUE
from reviewapp.review.quality.inputs import QueueQualityInput
from reviewapp.review.quality.models import GoldItem, QueueQuality
from reviewapp.review.quality.outputs import (
    GoldItemListOut,
    GoldItemOut,
    QueueQualityOut,
    QueueReviewerQualityOut,
)
from reviewapp.review.quality.selectors import (
    gold_items_for_queue,
    queue_quality_for,
    reviewer_quality,
)
from reviewapp.review.quality.services import gold_item_add, gold_item_retire, queue_quality_set
from reviewapp.review.reviews.access import get_queue_for_user, queues_for_user


def _settings(row: QueueQuality) -> dict:
    return {
        "queue": row.queue_id,
        "gold_rate": row.gold_rate,
        "senior_queue": row.senior_queue_id,
    }


def _gold(gold: GoldItem) -> dict:
    return {
        "id": gold.pk,
        "input": gold.input,
        "expected_output": gold.expected_output,
        "proposed_output": gold.proposed_output,
        "active": gold.active,
        "shown": getattr(gold, "shown", None),
        "scored": getattr(gold, "scored", None),
        "correct": getattr(gold, "correct", None),
    }


class QueueQualitySettingsView(APIView):
    @extend_schema(responses=QueueQualityOut)
    def get(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        return Response(_settings(queue_quality_for(queue)))

    @extend_schema(request=QueueQualityInput, responses=QueueQualityOut)
    def patch(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        values = QueueQualityInput.checked(
            request.data, partial=True, senior_queue=queues_for_user(request.user, MANAGE_QUEUE)
        )
        row = queue_quality_set(queue=queue, acting_user=request.user, **values)
        return Response(_settings(row))


class GoldItemSerializer(serializers.Serializer):
    # Objects are checked against the workflow's schemas by the service, field by field.
    input = serializers.JSONField()
    expected_output = serializers.JSONField()
    proposed_output = serializers.JSONField(required=False)


class QueueGoldItemsView(APIView):
    @extend_schema(responses=GoldItemListOut)
    def get(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        return Response({"gold_items": [_gold(gold) for gold in gold_items_for_queue(queue)]})

    @extend_schema(request=GoldItemSerializer, responses={201: GoldItemOut})
    def post(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        serializer = GoldItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        gold = gold_item_add(
            queue=queue,
            acting_user=request.user,
            input=data["input"],
            expected_output=data["expected_output"],
            proposed_output=data.get("proposed_output"),
        )
        return Response(_gold(gold), status=status.HTTP_201_CREATED)


class QueueReviewerQualityView(APIView):
    @extend_schema(responses=QueueReviewerQualityOut)
    def get(self, request, queue_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        return Response(
            {
                "queue": queue.pk,
                "reviewers": [row.as_dict() for row in reviewer_quality(queues=[queue])],
            }
        )


class GoldItemRetireView(APIView):
    @extend_schema(request=None, responses=GoldItemOut)
    def post(self, request, queue_id: int, gold_id: int):
        queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
        gold = get_object_or_404(GoldItem, pk=gold_id, queue=queue)
        return Response(_gold(gold_item_retire(gold=gold, acting_user=request.user)))
