from django.contrib import admin

from reviewapp.accounts.models import Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    readonly_fields = ("user", "role", "group")

    def has_add_permission(self, request, obj=None):
        return False  # memberships are added through membership_add, which grants the group


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("slug", "name")
    inlines = [MembershipInline]
