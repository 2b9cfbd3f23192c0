from django.contrib import admin

from reviewapp.review.approvals.models import Approval


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ("item", "tool", "risk_level", "requested_by", "deadline_at", "on_deadline")
    list_filter = ("risk_level", "on_deadline")
    readonly_fields = [field.name for field in Approval._meta.fields]
