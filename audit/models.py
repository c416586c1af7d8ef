from django.conf import settings
from django.db import models


class AuditLogEntry(models.Model):
    """One audited action: who did what to which target, when, why and through what.

    Rows are only ever added (the admin shows them read-only)."""

    class Action(models.TextChoices):
        USER_BAN = "user_ban"
        USER_UNBAN = "user_unban"
        MESSAGE_DELETE = "message_delete"
        MEMBER_ADD = "member_add"
        MEMBER_REMOVE = "member_remove"
        MEMBER_ROLE = "member_role"
        OWNERSHIP_TRANSFER = "ownership_transfer"
        GROUP_UPDATE = "group_update"
        BROADCAST_POST = "broadcast_post"

    class Via(models.TextChoices):
        ADMIN = "admin"
        API = "api"
        WEBSOCKET = "websocket"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the log still says who after the account is gone.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    target = models.CharField(max_length=255)
    reason = models.TextField(blank=True)
    via = models.CharField(max_length=16, choices=Via.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # Created by the moderation app, where the audit log lived first.
        db_table = "moderation_auditlogentry"
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.target}"
