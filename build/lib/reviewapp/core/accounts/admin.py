from django.contrib import admin

from reviewapp.core.accounts.models import Membership, ReviewerProfile, Team


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


@admin.register(ReviewerProfile)
class ReviewerProfileAdmin(admin.ModelAdmin):
    """Read-only: profiles change through reviewer_profile_set (validated and audited)."""

    list_display = ("user", "skills", "languages", "max_claims", "updated_at")
    readonly_fields = ("user", "skills", "languages", "max_claims", "updated_at")

    def has_add_permission(self, request):
        return False
