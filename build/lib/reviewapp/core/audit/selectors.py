from django.db.models import Model, QuerySet

from reviewapp.core.audit.models import AuditEvent


def events_for_object(obj: Model) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        object_type=obj._meta.label_lower, object_id=str(obj.pk)
    ).order_by("occurred_at", "id")


def events_for_chains(chains: list[str], *, limit: int = 200) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(chain__in=chains)
        .select_related("actor")
        .order_by("-occurred_at", "-id")[:limit]
    )
