from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import (
    ApiToken,
    Bot,
    IncomingWebhook,
    OutgoingWebhook,
    SlashCommand,
    WebhookDelivery,
)
from .services import api_tokens_revoke


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "owner", "created_at"]
    search_fields = ["display_name", "user__username", "owner__username"]
    raw_id_fields = ["user", "owner"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed by prefix; the secret itself is never stored, so never shown."""

    list_display = ["prefix", "name", "user", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at", "user"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is made by its user (or bot owner), who sees it once

    @admin.action(description="Revoke the selected tokens (their sockets close with 4401)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = api_tokens_revoke(token_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(IncomingWebhook)
class IncomingWebhookAdmin(admin.ModelAdmin):
    """Deleting a webhook here makes its URL answer 404 at once."""

    list_display = ["name", "conversation", "sender", "prefix", "created_by", "last_used_at"]
    search_fields = ["name", "prefix", "sender__username", "created_by__username"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]
    raw_id_fields = ["conversation", "sender", "created_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made over REST or in the browser, where its URL is shown once


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = [
        "delivery_id",
        "event",
        "conversation_id",
        "status",
        "attempts",
        "last_error",
        "response_status",
        "response_ms",
        "created_at",
        "delivered_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-id"]
    max_num = 0


@admin.register(OutgoingWebhook)
class OutgoingWebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "owner", "scope", "is_active", "disabled_reason", "created_at"]
    list_filter = ["is_active", "scope"]
    search_fields = ["url", "owner__username"]
    exclude = ["secret"]
    raw_id_fields = ["owner", "bot", "conversations"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [DeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log of every webhook (read-only)."""

    list_display = [
        "delivery_id",
        "webhook",
        "event",
        "conversation_id",
        "status",
        "attempts",
        "response_status",
        "response_ms",
        "last_error",
        "created_at",
    ]
    list_filter = ["status", "event"]
    search_fields = ["delivery_id", "webhook__url"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(SlashCommand)
class SlashCommandAdmin(admin.ModelAdmin):
    list_display = ["command", "url", "owner", "is_global", "created_at"]
    search_fields = ["command", "url", "owner__username"]
    exclude = ["secret"]
    raw_id_fields = ["owner", "bot", "conversations"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
