"""What the API answers about items, described for the OpenAPI schema (the views build these
bodies in ``workflows.selectors`` and ``reviewapp.operations.selectors``; tests check that the
real answers match these descriptions)."""

from rest_framework import serializers


class ItemSummaryOut(serializers.Serializer):
    id = serializers.IntegerField()
    workflow = serializers.CharField(help_text="The workflow's slug.")
    workflow_version = serializers.IntegerField()
    status = serializers.CharField(
        help_text="received, running, awaiting_review, completed or dead_lettered."
    )
    outcome = serializers.CharField(
        allow_null=True, help_text="When completed: auto_accepted, accepted, corrected, rejected."
    )
    input = serializers.JSONField(help_text="The item as it was sent.")
    final_output = serializers.JSONField(allow_null=True, help_text="The delivered output.")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class ItemBatchOut(serializers.Serializer):
    items = ItemSummaryOut(many=True)


class PredictionOut(serializers.Serializer):
    output = serializers.JSONField()
    confidence = serializers.FloatField()
    probabilities = serializers.JSONField(help_text="Probability per label.")
    model_version = serializers.CharField()
    latency_ms = serializers.FloatField()


class DecisionOut(serializers.Serializer):
    outcome = serializers.CharField()
    output = serializers.JSONField(allow_null=True)
    reason_codes = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField(allow_blank=True)
    decided_at = serializers.DateTimeField()


class StepRunOut(serializers.Serializer):
    step = serializers.CharField()
    attempt = serializers.IntegerField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    model_version = serializers.CharField(allow_null=True)


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)


class ItemDetailOut(ItemSummaryOut):
    prediction = PredictionOut(allow_null=True)
    routing = serializers.JSONField(allow_null=True, help_text="The rule that fired and why.")
    dead_letter_reason = serializers.CharField(allow_null=True)
    decision = DecisionOut(allow_null=True)
    timeline = StepRunOut(many=True)
    deliveries = DeliveryOut(many=True)


class ItemDiscardedOut(ItemSummaryOut):
    discarded = serializers.BooleanField()


class PolicyTallyOut(serializers.Serializer):
    items = serializers.IntegerField(help_text="Recent items replayed.")
    to_review = serializers.IntegerField()
    four_eyes = serializers.IntegerField()
    reviews = serializers.IntegerField(help_text="Review tasks (two per four-eyes item).")
    auto_accepted = serializers.IntegerField()
    review_rate = serializers.FloatField(allow_null=True)
    auto_accepted_human_checked = serializers.IntegerField(
        help_text="Auto-accepted here that a person decided at the time."
    )
    auto_accepted_human_changed = serializers.IntegerField(
        help_text="Of those, how many the person changed."
    )
    residual_error = serializers.FloatField(
        allow_null=True, help_text="Share of the checked auto-accepts a person changed."
    )


class PolicySimulationOut(serializers.Serializer):
    total = PolicyTallyOut()
    per_class = serializers.DictField(child=PolicyTallyOut(), help_text="Per predicted label.")


class PolicyComparisonOut(serializers.Serializer):
    current = PolicySimulationOut(help_text="The workflow's routing policy today.")
    candidate = PolicySimulationOut(help_text="The policy sent.")
