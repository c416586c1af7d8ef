from django.contrib import admin

from .models import PushNotification, WebPushSubscription


@admin.register(PushNotification)
class PushNotificationAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "user",
        "conversation",
        "channel",
        "status",
        "attempts",
        "message_count",
        "sent_at",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["user__username", "id"]
    raw_id_fields = ["user", "conversation"]
    readonly_fields = [f.name for f in PushNotification._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(WebPushSubscription)
class WebPushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at", "endpoint"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
