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
    kind = serializers.CharField(
        required=False,
        help_text="Only on a pairwise task (`pairwise`), which carries no item or prediction: "
        "read it through /api/v1/pairwise/tasks/<id>.",
    )
    item = TaskItemOut(required=False)
    prediction = TaskPredictionOut(required=False)
    routing = serializers.JSONField(
        required=False, allow_null=True, help_text="Why the item came to review."
    )
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


class QueueSettingsOut(serializers.Serializer):
    queue = serializers.IntegerField()
    urgency_weight = serializers.FloatField(help_text="Weight of the SLA clock in claim order.")
    priority_weight = serializers.FloatField()
    uncertainty_weight = serializers.FloatField()
    required_skills = serializers.ListField(
        child=serializers.CharField(), help_text="Skills a reviewer needs to claim here."
    )
    language_field = serializers.CharField(
        allow_blank=True, help_text="The input field naming a task's language."
    )
    max_claims_per_reviewer = serializers.IntegerField(allow_null=True)
    notify_webhook_url = serializers.CharField(
        allow_blank=True, help_text="Where escalations are POSTed."
    )
    notify_webhook_secret_env = serializers.CharField(
        allow_blank=True, help_text="The secret's name (from the team's allow-list)."
    )
    review_hourly_cost = serializers.FloatField(help_text="What an hour of review costs.")
