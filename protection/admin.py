from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.errors import ChatError

from . import services
from .models import BlacklistEntry, WhitelistEntry


class AddressEntryAdmin(admin.ModelAdmin):
    list_display = ["network", "reason", "expires_at", "active", "added_by", "created_at"]
    search_fields = ["network", "reason"]
    readonly_fields = ["added_by", "created_at"]
    fields = ["network", "reason", "expires_at", "added_by", "created_at"]
    add_service = staticmethod(services.blacklist_add)
    remove_service = staticmethod(services.blacklist_remove)

    @admin.display(boolean=True)
    def active(self, entry) -> bool:  # type: ignore[no-untyped-def]
        return entry.active

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        # Through the service, so every process reloads and (blacklist) live sockets close.
        if change and "network" in form.changed_data:
            self.remove_service(network=form.initial["network"])
        try:
            entry, _ = self.add_service(
                network=obj.network,
                reason=obj.reason,
                expires_at=obj.expires_at,
                added_by=obj.added_by or request.user,
            )
        except ChatError as exc:
            raise ValidationError(exc.detail) from exc
        obj.pk = entry.pk

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        self.remove_service(network=obj.network)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for entry in queryset:
            self.remove_service(network=entry.network)
        messages.info(request, "Every server process applies the change within seconds.")


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(AddressEntryAdmin):
    pass


@admin.register(WhitelistEntry)
class WhitelistEntryAdmin(AddressEntryAdmin):
    add_service = staticmethod(services.whitelist_add)
    remove_service = staticmethod(services.whitelist_remove)
