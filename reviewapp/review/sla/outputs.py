"""What the managers' API answers, described for the OpenAPI schema (the views build the bodies;
tests check that the real answers match these descriptions)."""

from rest_framework import serializers


class TaskAssignmentOut(serializers.Serializer):
    task = serializers.IntegerField()
    status = serializers.CharField()
    claimed_by = serializers.CharField(allow_null=True)
    lease_expires_at = serializers.DateTimeField(allow_null=True)


class BulkAssignedOut(serializers.Serializer):
    assigned = serializers.ListField(child=serializers.IntegerField(), help_text="Task ids.")
    reviewer = serializers.CharField()


class SlaPolicyOut(serializers.Serializer):
    queue = serializers.IntegerField()
    target_minutes = serializers.IntegerField(allow_null=True, help_text="Empty: no SLA.")
    warn_at_percent = serializers.IntegerField(allow_null=True)
    calendar = serializers.IntegerField(allow_null=True, help_text="Empty: around the clock.")


class CalendarOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    team = serializers.CharField(allow_null=True, help_text="The slug of the team it belongs to.")
    time_zone = serializers.CharField()
    working_hours = serializers.DictField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.CharField())),
        help_text='Per weekday, ranges of two times: {"mon": [["09:00", "17:00"]]}.',
    )
    holidays = serializers.ListField(child=serializers.DateField())


class CalendarListOut(serializers.Serializer):
    calendars = CalendarOut(many=True)


class EscalationStepOut(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    trigger = serializers.CharField()
    after_minutes = serializers.IntegerField()
    action = serializers.CharField()
    priority_boost = serializers.IntegerField(allow_null=True)
    target_queue = serializers.IntegerField(allow_null=True)
    recipient = serializers.CharField(allow_null=True)


class EscalationStepListOut(serializers.Serializer):
    steps = EscalationStepOut(many=True)
