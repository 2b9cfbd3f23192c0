"""What the quality API answers, described for the OpenAPI schema (the views build the bodies;
tests check that real answers match)."""

from rest_framework import serializers


class QueueQualityOut(serializers.Serializer):
    queue = serializers.IntegerField()
    gold_rate = serializers.FloatField(help_text="Share of claims that are gold items.")
    senior_queue = serializers.IntegerField(
        allow_null=True, help_text="Where four-eyes disagreements go."
    )


class GoldItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    input = serializers.JSONField()
    expected_output = serializers.JSONField(help_text="The right answer.")
    proposed_output = serializers.JSONField(help_text="What the reviewer is shown as the model's.")
    active = serializers.BooleanField()
    shown = serializers.IntegerField(allow_null=True, help_text="Times claimed (in lists).")
    scored = serializers.IntegerField(allow_null=True, help_text="Times decided (in lists).")
    correct = serializers.IntegerField(allow_null=True, help_text="Times answered right.")


class GoldItemListOut(serializers.Serializer):
    gold_items = GoldItemOut(many=True)


class ReviewerQualityOut(serializers.Serializer):
    reviewer = serializers.CharField()
    decisions = serializers.IntegerField(help_text="Decisions on real tasks (gold left out).")
    gold_total = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    four_eyes_paired = serializers.IntegerField()
    four_eyes_agreed = serializers.IntegerField()
    agreement_rate = serializers.FloatField(allow_null=True)


class QueueReviewerQualityOut(serializers.Serializer):
    queue = serializers.IntegerField()
    reviewers = ReviewerQualityOut(many=True)
