from django.contrib import admin

from reviewapp.learn.datasets.models import DatasetExport


@admin.register(DatasetExport)
class DatasetExportAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "format", "status", "requested_by", "decided_by")
    list_filter = ("status", "format")
    readonly_fields = [f.name for f in DatasetExport._meta.fields]

    def has_add_permission(self, request):
        return False  # exports are requested through the page or the API, where it is audited
