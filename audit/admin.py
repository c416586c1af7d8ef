"""The audit log in the Django admin: read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditLogEntry


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_name", "action", "target", "reason", "via"]
    list_filter = ["action", "via", "created_at"]
    search_fields = ["actor_name", "target", "reason", "target_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
