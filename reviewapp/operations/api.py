"""An item's status for integrators, and what operators do with dead-lettered items."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.operations.selectors import item_detail
from reviewapp.review.reviews.access import get_item_for_user, get_item_to_operate
from workflows.outputs import ItemDetailOut, ItemDiscardedOut, ItemSummaryOut
from workflows.pipeline.engine import item_dead_letter_discard, item_dead_letter_retry
from workflows.selectors import item_summary


class ItemDetailView(APIView):
    @extend_schema(responses=ItemDetailOut)
    def get(self, request, item_id: int):
        item = get_item_for_user(request.user, item_id)
        return Response(item_detail(item))


class ItemRetryView(APIView):
    @extend_schema(request=None, responses=ItemSummaryOut)
    def post(self, request, item_id: int):
        item = get_item_to_operate(request.user, item_id)
        item = item_dead_letter_retry(item=item, acting_user=request.user)
        return Response(item_summary(item))


class DiscardSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ItemDiscardView(APIView):
    @extend_schema(request=DiscardSerializer, responses=ItemDiscardedOut)
    def post(self, request, item_id: int):
        item = get_item_to_operate(request.user, item_id)
        serializer = DiscardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = item_dead_letter_discard(
            item=item, acting_user=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(item_summary(item) | {"discarded": True})
