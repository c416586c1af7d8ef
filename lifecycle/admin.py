from django.contrib import admin

from .models import ConversationRetention, Job, SlackMapping


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
