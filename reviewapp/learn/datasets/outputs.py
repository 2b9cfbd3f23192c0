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
