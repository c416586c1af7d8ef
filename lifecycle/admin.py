from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from moderation.admin import ModerationUserAdmin

from .deletion import account_delete_request
from .models import ConversationRetention, Job, SlackMapping

# The user admin gains "Delete accounts" next to moderation's ban actions.
admin.site.unregister(User)


@admin.register(User)
class LifecycleUserAdmin(ModerationUserAdmin):
    actions = [*ModerationUserAdmin.actions, "delete_accounts"]

    @admin.action(description="Delete accounts (deactivate now, then anonymise)")
    def delete_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        for user in queryset.filter(is_active=True).exclude(pk=request.user.pk):
            account_delete_request(user=user, actor=request.user)  # type: ignore[arg-type]
            count += 1
        self.message_user(
            request, f"{count} accounts deactivated; anonymising in the background (Jobs)."
        )


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """What operators see of imports, exports, deletions and retention runs while they run."""

    list_display = ("kind", "status", "progress", "user", "created_at", "finished_at", "error")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in Job._meta.fields]
    ordering = ("-created_at",)

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(ConversationRetention)
class ConversationRetentionAdmin(admin.ModelAdmin):
    """Staff set a conversation's retention and legal hold here (or with PATCH
    /api/conversations/{id}/retention/); first_seq is the retention task's."""

    list_display = ("conversation", "retention_days", "legal_hold", "first_seq", "updated_at")
    list_filter = ("legal_hold",)
    readonly_fields = ("first_seq",)
    raw_id_fields = ("conversation",)


@admin.register(SlackMapping)
class SlackMappingAdmin(admin.ModelAdmin):
    list_display = ("kind", "slack_id", "object_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("slack_id",)
