"""What the reviews API answers, described for the OpenAPI schema (the views build the bodies;
tests check that the real answers match these descriptions)."""

from rest_framework import serializers


class QueueRowOut(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    workflow = serializers.CharField(help_text="The workflow's slug.")
    open = serializers.IntegerField(help_text="Tasks waiting for a reviewer.")
    claimed = serializers.IntegerField(help_text="Tasks being reviewed.")
    mine = serializers.IntegerField(help_text="Tasks you hold.")


class QueueListOut(serializers.Serializer):
    queues = QueueRowOut(many=True)


class TaskItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    input = serializers.JSONField()


class TaskPredictionOut(serializers.Serializer):
    output = serializers.JSONField()
    confidence = serializers.FloatField()
    probabilities = serializers.JSONField(help_text="Probability per label.")


class TaskOut(serializers.Serializer):
    id = serializers.IntegerField()
    queue = serializers.IntegerField()
    status = serializers.CharField(help_text="open, claimed, decided or cancelled.")
    priority = serializers.IntegerField()
    item = TaskItemOut()
    prediction = TaskPredictionOut()
    routing = serializers.JSONField(allow_null=True, help_text="Why the item came to review.")
    claim_token = serializers.UUIDField(
        allow_null=True, help_text="Present only to the reviewer who holds the claim."
    )
    lease_expires_at = serializers.DateTimeField(allow_null=True)


class DecidedOut(serializers.Serializer):
    task = serializers.IntegerField()
    outcome = serializers.CharField()
    output = serializers.JSONField(allow_null=True)
    next = TaskOut(
        required=False, allow_null=True, help_text="With next=true: the next task claimed."
    )
    next_error = serializers.CharField(
        required=False, help_text="Why no next task was claimed; the decision is saved."
    )


class TaskStateOut(serializers.Serializer):
    task = serializers.IntegerField()
    status = serializers.CharField()


class TaskExtendedOut(TaskStateOut):
    lease_expires_at = serializers.DateTimeField()
