"""What the approvals API answers, described for the OpenAPI schema (``approval_summary`` builds
the bodies; tests check that real answers match)."""

from rest_framework import serializers


class AgentApprovalOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="The approval's id (also its item's).")
    workflow = serializers.CharField(help_text="The approval workflow's slug.")
    tool = serializers.CharField()
    arguments = serializers.JSONField(help_text="The arguments as the agent asked.")
    risk_level = serializers.CharField(help_text="low, medium, high or critical.")
    requested_by = serializers.CharField()
    status = serializers.CharField(help_text="pending, approved or denied.")
    approved_arguments = serializers.JSONField(
        allow_null=True, help_text="What to act with when approved: the reviewer's edit if edited."
    )
    edited = serializers.BooleanField()
    decided_by = serializers.CharField(allow_null=True, help_text="reviewer or deadline.")
    decided_at = serializers.DateTimeField(allow_null=True)
    reason_codes = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField(allow_blank=True)
    deadline_at = serializers.DateTimeField()
    on_deadline = serializers.CharField(help_text="deny, approve or escalate.")
    escalated_at = serializers.DateTimeField(allow_null=True)

    def get_fields(self):
        # A field called "context" cannot be declared: it would hide the serializer's own.
        fields = super().get_fields()
        fields["context"] = serializers.JSONField(allow_null=True)
        return fields
