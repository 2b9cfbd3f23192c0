"""What the canary, retraining and model-sharing API answers, described for the OpenAPI schema
(the selectors build the bodies; tests check that real answers match)."""

from rest_framework import serializers


class CanaryOut(serializers.Serializer):
    id = serializers.IntegerField()
    stable = serializers.CharField(help_text="The serving model, name@version.")
    candidate = serializers.CharField(help_text="The model tried on part of the traffic.")
    percent = serializers.IntegerField(help_text="Share of items the candidate answers.")
    min_sample = serializers.IntegerField(help_text="Reviewed items before the gates judge.")
    gates = serializers.JSONField(help_text="The thresholds the candidate must meet.")
    status = serializers.CharField(help_text="running, promoted, rolled_back or stopped.")
    reason = serializers.CharField(allow_null=True, help_text="Why it ended, in words.")
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    last_evaluation = serializers.JSONField(
        allow_null=True, help_text="The figures of the latest evaluation against the gates."
    )


class CanaryListOut(serializers.Serializer):
    canaries = CanaryOut(many=True, help_text="The workflow's latest twenty, newest first.")


class TrainingRunOut(serializers.Serializer):
    id = serializers.IntegerField()
    workflow = serializers.CharField(help_text="The workflow's slug.")
    release = serializers.CharField(help_text="The release the model is trained on.")
    export_id = serializers.IntegerField()
    status = serializers.CharField(help_text="queued, running, succeeded or failed.")
    progress = serializers.IntegerField(help_text="Percent done.")
    stage = serializers.CharField(allow_blank=True)
    base = serializers.CharField(allow_null=True, help_text="The model retrained from.")
    candidate = serializers.CharField(allow_null=True, help_text="The model it produced.")
    metrics = serializers.JSONField(allow_null=True, help_text="Validation and test scores.")
    error = serializers.CharField(allow_null=True)
    requested_by = serializers.CharField(allow_null=True)
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ModelShareOut(serializers.Serializer):
    model = serializers.CharField(help_text="name@version.")
    team = serializers.CharField(allow_null=True, help_text="The owning team's slug.")
    shared_with = serializers.ListField(
        child=serializers.CharField(), help_text="Slugs of the teams that may use it."
    )
