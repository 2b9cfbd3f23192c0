from django.contrib import admin

from reviewapp.core.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "chain",
        "shard",
        "seq",
        "action",
        "object_type",
        "object_id",
        "actor_label",
    )
    list_filter = ("chain", "action")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
