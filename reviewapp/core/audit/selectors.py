from django.db.models import Model, QuerySet

from reviewapp.core.audit.models import AuditEvent


def events_for_object(obj: Model) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk)
    ).order_by("occurred_at", "id")
