"""What the exports API answers, described for the OpenAPI schema (``export_summary`` builds
the body; tests check that the real answers match this description)."""

from rest_framework import serializers


class ApprovalOut(serializers.Serializer):
    approver = serializers.CharField()
    approved_at = serializers.DateTimeField()


class ExportOut(serializers.Serializer):
    id = serializers.IntegerField()
    workflow = serializers.CharField(help_text="The workflow's slug.")
    format = serializers.CharField(help_text="jsonl, csv, parquet, label_studio or hf.")
    filters = serializers.JSONField(help_text="The spec: which corrections the export holds.")
    status = serializers.CharField(
        help_text="requested, approved, rejected, building, ready, failed or expired."
    )
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    decided_by = serializers.CharField(allow_null=True)
    decision_reason = serializers.CharField(allow_null=True)
    approvals_required = serializers.IntegerField()
    approvals = ApprovalOut(many=True)
    include_sensitive = serializers.BooleanField()
    sensitive_included = serializers.BooleanField()
    release = serializers.CharField(
        allow_null=True, help_text="The workflow and release, e.g. support-triage v3."
    )
    rows_total = serializers.IntegerField(allow_null=True)
    rows_done = serializers.IntegerField()
    progress_percent = serializers.IntegerField()
    sha256 = serializers.CharField(allow_null=True)
    manifest = serializers.JSONField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class ExportListOut(serializers.Serializer):
    exports = ExportOut(many=True)


class PreviewOut(serializers.Serializer):
    workflow = serializers.CharField(help_text="The workflow's slug.")
    filters = serializers.JSONField(help_text="The spec as it would be requested.")
    rows = serializers.IntegerField(help_text="Rows the export would hold.")
    by_class = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows per output class."
    )
    by_reason = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows per reason code."
    )
    by_split = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows per split (train, validation, test)."
    )
    sensitive_fields = serializers.DictField(
        child=serializers.ChoiceField(choices=["redact", "pseudonymise"]),
        help_text="Input fields protected in the samples, and how.",
    )
    samples = serializers.ListField(
        child=serializers.JSONField(), help_text="The first rows, sensitive fields protected."
    )


class LabelStudioPushOut(serializers.Serializer):
    project_id = serializers.IntegerField()
    project_url = serializers.CharField()
    tasks = serializers.IntegerField(help_text="Tasks created in the project.")
    base_url = serializers.CharField(help_text="The Label Studio server.")


class LabelStudioPullOut(serializers.Serializer):
    export = serializers.IntegerField()
    project_id = serializers.IntegerField(allow_null=True)
    project_url = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="queued, running, done or failed.")
    started_at = serializers.DateTimeField(allow_null=True)
    result = serializers.JSONField(
        help_text="Once done: annotations read and corrections recorded, by what happened."
    )
