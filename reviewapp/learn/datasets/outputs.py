"""What the exports API answers, described for the OpenAPI schema (``export_summary`` builds
the body; tests check that the real answers match this description)."""

from rest_framework import serializers


class ApprovalOut(serializers.Serializer):
    approver = serializers.CharField()
    approved_at = serializers.DateTimeField()


class ReleaseFileOut(serializers.Serializer):
    format = serializers.CharField()
    download_name = serializers.CharField(
        help_text="What the download is saved as, e.g. support-triage-v3-verified.jsonl."
    )
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    download_url = serializers.CharField(help_text="GET it (with ?format=) to download.")


class ReleaseDiffOut(serializers.Serializer):
    previous = serializers.CharField(
        allow_null=True, help_text="The release compared with, e.g. v2; null for the first."
    )
    previous_id = serializers.IntegerField(
        required=False, help_text="The export id of the release compared with."
    )
    added = serializers.IntegerField(required=False)
    removed = serializers.IntegerField(required=False)
    changed = serializers.IntegerField(
        required=False, help_text="Rows of the same input whose label changed."
    )
    unchanged = serializers.IntegerField(required=False)
    unavailable = serializers.CharField(required=False, help_text="Why there is no comparison.")


class ExportOut(serializers.Serializer):
    id = serializers.IntegerField()
    workflow = serializers.CharField(help_text="The workflow's slug.")
    format = serializers.CharField(
        help_text="The first of formats: jsonl, csv, parquet, label_studio, hf_dataset or "
        "preference_jsonl."
    )
    formats = serializers.ListField(
        child=serializers.CharField(), help_text="Every format the release is built in."
    )
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
    files = ReleaseFileOut(many=True, help_text="One file per format, once built.")
    diff = ReleaseDiffOut(allow_null=True, help_text="Against the previous release, once built.")
    release_url = serializers.CharField(allow_null=True, help_text="The release page, once built.")
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
